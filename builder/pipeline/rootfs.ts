// The rootfs stage: an image's whole root tree from the packages, the kernel modules, the recipe's overlays, templates
// and generated config, the agent and its secrets, the guest images and NVRAM stores, and the container init.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { FailureError } from '../../common/errors.ts';
import { readTar, writeTar } from '../archive/tar.ts';
import { defaultKeyDir } from '../firmware/keys.ts';
import { renderTemplate } from '../recipe/templates.ts';
import type { Recipe, TemplateSpec } from '../recipe/types.ts';
import { type FileTree, placeEntry, resolveInTree, rootFile, unchangedPaths } from '../rootfs/tree.ts';
import { type ApiTlsPair, IMAGE_API_CERT, IMAGE_API_KEY, readApiTls } from '../secrets/api-tls.ts';
import { type FleetFiles, IMAGE_FLEET_CA, IMAGE_FLEET_SEED, readFleetFiles } from '../secrets/fleet-files.ts';
import { type HostUsers, IMAGE_SECRET_KEY, resolveHostUsers } from '../secrets/host-users.ts';
import { resolveVpnSecrets, type VpnSecrets } from '../secrets/vpn-configs.ts';
import { trustedUpdateKey } from '../update/update-key.ts';
import { CONTAINER_INITRD, containerInitramfs, containerInitScript } from './container-init.ts';
import {
  containerKernel,
  guestDiskPath,
  guestImagePaths,
  guestVarsPath,
  hostConfig,
  osRelease,
  templateValues,
  vmFirmware,
} from './generated.ts';
import type { BuiltImage, ImageContext } from './image.ts';
import type { KernelModules } from './kernel.ts';
import { hashOverlay, type OverlayEntry, readOverlay } from './overlay.ts';
import { hashCode, repoRoot } from './sources.ts';
import { runLoggedStage, type StageInputs, sha256 } from './stage.ts';

// What the earlier stages made that the root tree takes in (cache blobs).
export interface RootfsParts {
  packages: string;
  modules?: KernelModules;
  agent?: string;
  guests: BuiltImage[];
  vmVars: Record<string, string>;
}

// The root tree as a tar blob, and how big it is.
export interface BuiltRootfs {
  tar: string;
  stats: { entries: number; bytes: number };
  // A JSON array of the paths whose entries the package layer holds as they are (the initramfs's packages segment).
  packagePaths: string;
}

// What the recipe and the key folder add to the packages, read before the stage so that its key holds all of it.
interface RecipeFiles {
  overlays: Array<{ dir: string; entries: OverlayEntry[] }>;
  templates: Array<Omit<TemplateSpec, 'source'> & { text: string }>;
  generated: Record<string, string>;
  secretKey?: Buffer;
  apiTls?: ApiTlsPair;
  fleet?: FleetFiles;
}

// A host with an agent and a small guest kernel can run container workloads: it carries the container init.
function carriesContainers(recipe: Recipe): boolean {
  return recipe.kind === 'host' && recipe.agent.enabled && containerKernel(recipe) !== undefined;
}

function renderTemplates(recipe: Recipe): RecipeFiles['templates'] {
  const values = templateValues(recipe);
  return recipe.templates.map((t) => {
    try {
      return { target: t.target, mode: t.mode, text: renderTemplate(readFileSync(t.source, 'utf8'), values) };
    } catch (cause) {
      throw new FailureError(`template ${relative(repoRoot, t.source)} failed to render: ${(cause as Error).message}`, {
        cause,
      });
    }
  });
}

function generatedFiles(
  recipe: Recipe,
  users: HostUsers,
  vpn: VpnSecrets,
  updateKey?: string,
  fleet?: FleetFiles,
): Record<string, string> {
  const generated: Record<string, string> = { 'etc/os-release': osRelease(recipe) };
  if (recipe.kind === 'host') {
    const config = hostConfig(recipe, users, vpn, updateKey, fleet ? { caShipped: fleet.ca !== undefined } : undefined);
    generated['etc/mvos/host.json'] = `${JSON.stringify(config, null, 2)}\n`;
    generated['etc/mvos/state-label'] = `${recipe.host.stateLabel}\n`;
    // Init's backstop for a new version on trial: reboot into the old one when the gate has not passed by then.
    if (recipe.update) generated['etc/mvos/update-deadline'] = `${recipe.update.deadline}\n`;
    if (recipe.host.watchdog) generated['etc/mvos/watchdog'] = `${recipe.host.watchdog}\n`;
  }
  return generated;
}

async function readRecipeFiles(recipe: Recipe): Promise<RecipeFiles> {
  const overlays = recipe.overlays.map((dir) => ({ dir, entries: readOverlay(dir) }));
  const templates = renderTemplates(recipe);
  // Agent users' sealed secrets and hashes come from the key folder (outside the repository); the key ships root-only.
  const users = recipe.kind === 'host' ? await resolveHostUsers(recipe.agent.users, defaultKeyDir()) : { users: [] };
  // The TCP API's certificate and key, when the recipe takes them from the key folder; the key ships root-only like the
  // secret key.
  const apiTls =
    recipe.kind === 'host' && recipe.agent.apiTls === 'key-folder'
      ? await readApiTls(defaultKeyDir(), recipe.agent)
      : undefined;
  // VPN networks' provider files, sealed with the same key.
  const vpn: VpnSecrets =
    recipe.kind === 'host' ? await resolveVpnSecrets(recipe.networks, defaultKeyDir()) : { byNetwork: new Map() };
  const secretKey = users.secretKey ?? vpn.secretKey;
  // The update key the host trusts, when the recipe takes it from the key folder (public, so it is not sealed).
  const updateKey = recipe.update?.key === 'key-folder' ? await trustedUpdateKey(defaultKeyDir()) : undefined;
  // The fleet's seed of this host (root-only) and the brokers' CA.
  const fleet =
    recipe.kind === 'host' && recipe.agent.fleet
      ? await readFleetFiles(defaultKeyDir(), recipe.agent.fleet.host)
      : undefined;
  return {
    overlays,
    templates,
    generated: generatedFiles(recipe, users, vpn, updateKey, fleet),
    secretKey,
    apiTls,
    ...(fleet ? { fleet } : {}),
  };
}

async function rootfsInputs(
  ctx: ImageContext,
  recipe: Recipe,
  parts: RootfsParts,
  files: RecipeFiles,
): Promise<StageInputs> {
  return {
    packages: parts.packages,
    overlays: sha256(JSON.stringify(files.overlays.map((o) => [relative(repoRoot, o.dir), hashOverlay(o.entries)]))),
    templates: sha256(JSON.stringify(files.templates.map((r) => [r.target, r.mode, r.text]))),
    generated: sha256(JSON.stringify(files.generated)),
    modules: parts.modules ? `${parts.modules.tar}:${parts.modules.load}` : '',
    agent: parts.agent ?? '',
    secretKey: files.secretKey ? sha256(files.secretKey) : '',
    apiTls: files.apiTls ? sha256(Buffer.concat([files.apiTls.cert, files.apiTls.key])) : '',
    fleet: files.fleet ? sha256(Buffer.concat([files.fleet.seed, files.fleet.ca ?? Buffer.alloc(0)])) : '',
    guests: parts.guests.map((g) => `${g.recipe.name}:${g.vmlinuz}:${g.initrd}:${g.disk ?? ''}`).join(','),
    vmVars: JSON.stringify(Object.entries(parts.vmVars).sort()),
    containerInit: carriesContainers(recipe) ? sha256(containerInitScript()) : '',
    sde: String(ctx.sourceDateEpoch),
    code: await hashCode(['builder/pipeline/rootfs.ts']),
  };
}

// The packages' tree with the kernel modules in it, and the modules' load order for /etc/mvos/modules.
async function packagesWithModules(
  ctx: ImageContext,
  recipe: Recipe,
  parts: RootfsParts,
): Promise<{ tree: FileTree; layer: FileTree; moduleLoadOrder?: string }> {
  const tree = await readTar(await ctx.cache.read(parts.packages, `${recipe.name} packages`), { origin: 'packages' });
  // The layer as it came, before anything is laid over it (entries are shared, not copied).
  const layer = tree.clone();
  if (!parts.modules) return { tree, layer };
  const modules = await readTar(await ctx.cache.read(parts.modules.tar, `${recipe.name} modules`), {
    origin: 'kernel',
  });
  // Through the tree's links: on merged /usr, lib/modules/ lands in usr/lib/modules/.
  for (const entry of modules.entries()) placeEntry(tree, { ...entry });
  return {
    tree,
    layer,
    moduleLoadOrder: (await ctx.cache.read(parts.modules.load, 'module load order')).toString('utf8'),
  };
}

function addOverlays(tree: FileTree, overlays: RecipeFiles['overlays']): void {
  for (const { dir, entries } of overlays) {
    const origin = `overlay:${relative(repoRoot, dir)}`;
    for (const e of entries) {
      if (e.type === 'directory') tree.mkdirp(e.path, { mode: e.mode, origin });
      else if (e.type === 'symlink')
        tree.add({ path: e.path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: e.linkname, origin });
      else tree.add(rootFile(e.path, e.content!, origin, e.mode));
    }
  }
}

function addSecrets(tree: FileTree, files: RecipeFiles): void {
  if (files.secretKey) tree.add(rootFile(IMAGE_SECRET_KEY.slice(1), files.secretKey, 'agent-users', 0o400));
  if (files.apiTls) {
    tree.add(rootFile(IMAGE_API_CERT.slice(1), files.apiTls.cert, 'agent-tls', 0o444));
    tree.add(rootFile(IMAGE_API_KEY.slice(1), files.apiTls.key, 'agent-tls', 0o400));
  }
  if (files.fleet) {
    tree.add(rootFile(IMAGE_FLEET_SEED.slice(1), files.fleet.seed, 'fleet', 0o400));
    if (files.fleet.ca) tree.add(rootFile(IMAGE_FLEET_CA.slice(1), files.fleet.ca, 'fleet', 0o444));
  }
}

async function addGuestImages(
  ctx: ImageContext,
  tree: FileTree,
  recipe: Recipe,
  guests: readonly BuiltImage[],
): Promise<void> {
  // Where each blob went first: VMs built from the same image (controller and rescue often are) share its files as
  // hard links, which the initramfs holds once.
  const placed = new Map<string, string>();
  // One built image per VM, in the recipe's VM order: two VMs of one guest recipe are two entries.
  for (const [index, guest] of guests.entries()) {
    const vm = recipe.vms[index]!;
    const paths = guestImagePaths(vm);
    const add = async (path: string, blob: string, what: string, mode: number) => {
      const origin = `image:${guest.recipe.name}`;
      const first = placed.get(`${blob}:${mode}`);
      if (first)
        return tree.add({ path: path.slice(1), type: 'hardlink', linkname: first, mode, uid: 0, gid: 0, origin });
      placed.set(`${blob}:${mode}`, path.slice(1));
      tree.add(rootFile(path.slice(1), await ctx.cache.read(blob, `${guest.recipe.name} ${what}`), origin, mode));
    };
    await add(paths.kernel, guest.vmlinuz, 'kernel', 0o644);
    await add(paths.initrd, guest.initrd, 'initrd', 0o644);
    const disk = guestDiskPath(vm);
    if (disk && guest.disk) await add(disk, guest.disk, 'root disk', 0o444);
  }
}

// Each VM's NVRAM store, and the firmware code it boots, which must come from the host's own packages.
async function addVmFirmware(
  ctx: ImageContext,
  tree: FileTree,
  recipe: Recipe,
  vmVars: Record<string, string>,
): Promise<void> {
  for (const vm of recipe.vms) {
    const vars = vmVars[vm.name];
    if (vars)
      tree.add(
        rootFile(
          guestVarsPath(vm).slice(1),
          await ctx.cache.read(vars, `${vm.name} NVRAM store`),
          `firmware:${vm.name}`,
        ),
      );
    const code = (vmFirmware(vm) as { code?: string }).code;
    if (code && !tree.has(code.slice(1)))
      throw new FailureError(`VM ${vm.name} boots ${code}, which the host image does not carry`, {
        hint: "keep ovmf and seabios in the host recipe's packages and out of its drop rules",
      });
  }
}

async function addContainerInit(ctx: ImageContext, tree: FileTree): Promise<void> {
  const busybox = tree.get(resolveInTree(tree, 'bin/busybox'));
  if (!busybox?.content)
    throw new FailureError('the host runs container workloads with its busybox, and the image has no /bin/busybox', {
      hint: "keep busybox-static in the host recipe's packages",
    });
  tree.add(
    rootFile(
      CONTAINER_INITRD.slice(1),
      await containerInitramfs(busybox.content, ctx.sourceDateEpoch),
      'container-init',
    ),
  );
}

function addSystemFolders(tree: FileTree): void {
  // The kernel opens /dev/console for init before devtmpfs is mounted, so the archive carries the two nodes it needs.
  tree.mkdirp('dev', { mode: 0o755, origin: 'generated' });
  const nodes = [
    ['dev/console', 0o600, 5, 1],
    ['dev/null', 0o666, 1, 3],
  ] as const;
  for (const [path, mode, devmajor, devminor] of nodes)
    tree.add({ path, type: 'char', mode, uid: 0, gid: 0, devmajor, devminor, origin: 'generated' });
  for (const dir of ['proc', 'sys', 'run', 'tmp', 'var/lib/mvos', 'mnt'])
    tree.mkdirp(dir, { mode: dir === 'tmp' ? 0o1777 : 0o755, origin: 'generated' });
}

// Layers the tree in a fixed order (later layers replace earlier files): packages, modules, overlays, templates,
// generated files, secrets, agent, guests, firmware, container init.
async function buildRootTree(
  ctx: ImageContext,
  recipe: Recipe,
  parts: RootfsParts,
  files: RecipeFiles,
): Promise<Record<string, Buffer>> {
  const { tree, layer, moduleLoadOrder } = await packagesWithModules(ctx, recipe, parts);
  addOverlays(tree, files.overlays);
  for (const t of files.templates) tree.add(rootFile(t.target.slice(1), t.text, `template:${t.target}`, t.mode));
  const generated =
    moduleLoadOrder === undefined ? files.generated : { ...files.generated, 'etc/mvos/modules': moduleLoadOrder };
  for (const [path, text] of Object.entries(generated)) tree.add(rootFile(path, text, 'generated'));
  addSecrets(tree, files);
  if (parts.agent)
    tree.add(rootFile('usr/lib/mvos/agent.mjs', await ctx.cache.read(parts.agent, 'agent bundle'), 'generated'));
  await addGuestImages(ctx, tree, recipe, parts.guests);
  await addVmFirmware(ctx, tree, recipe, parts.vmVars);
  if (carriesContainers(recipe)) await addContainerInit(ctx, tree);
  addSystemFolders(tree);
  if (!tree.has('init'))
    throw new FailureError(`${recipe.name} has no /init`, {
      hint: 'an overlay must provide the init program (see rootfs/host/overlay/init)',
    });
  return {
    'rootfs.tar': await writeTar(tree, { mtime: ctx.sourceDateEpoch }),
    stats: Buffer.from(JSON.stringify({ entries: tree.size, bytes: tree.contentBytes })),
    'package-paths': Buffer.from(JSON.stringify(unchangedPaths(tree, layer))),
  };
}

// The root tree of one image, keyed by everything layered into it.
export async function assembleRootfs(ctx: ImageContext, recipe: Recipe, parts: RootfsParts): Promise<BuiltRootfs> {
  const files = await readRecipeFiles(recipe);
  const record = await runLoggedStage(
    ctx,
    `rootfs(${recipe.name})`,
    await rootfsInputs(ctx, recipe, parts, files),
    () => buildRootTree(ctx, recipe, parts, files),
  );
  const stats = JSON.parse(
    (await ctx.cache.read(record.outputs.stats!, 'rootfs stats')).toString(),
  ) as BuiltRootfs['stats'];
  return { tar: record.outputs['rootfs.tar']!, stats, packagePaths: record.outputs['package-paths']! };
}
