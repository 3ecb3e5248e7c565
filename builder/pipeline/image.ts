// One image's build as verb-named steps: install packages, make the kernel, bundle the agent, build the guests, assemble the rootfs, pack the initramfs.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeCpioNewc } from '../archive/cpio.ts';
import { compress } from '../archive/compress.ts';
import { readTar, writeTar } from '../archive/tar.ts';
import { bundleAgent } from '../agent/bundle.ts';
import { FailureError } from '../../common/errors.ts';
import { defaultKeyDir } from '../firmware/keys.ts';
import type { PackagePin } from '../inputs/apt.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { pinOf, type LockedImage, type Lockfile } from '../inputs/lockfile.ts';
import { extractDebianKernel } from '../kernel/debian.ts';
import { selectModules } from '../kernel/modules.ts';
import { buildKernelFromSource, kernelSourceKey, kernelToolchain, readConfigFragments } from '../kernel/source.ts';
import { renderTemplate } from '../recipe/templates.ts';
import { kernelConfigDir } from '../recipe/rules.ts';
import type { Recipe } from '../recipe/types.ts';
import { dropFilter } from '../rootfs/drop.ts';
import { writeErofs } from '../rootfs/erofs.ts';
import { addDebToTree, FileTree } from '../rootfs/tree.ts';
import { IMAGE_API_CERT, IMAGE_API_KEY, readApiTls } from '../secrets/api-tls.ts';
import { IMAGE_SECRET_KEY, resolveHostUsers } from '../secrets/host-users.ts';
import { makeVmVars, pinFirmware } from './firmware.ts';
import { containerInitramfs, containerInitScript, CONTAINER_INITRD } from './container-init.ts';
import { containerKernel, guestDiskPath, guestImagePaths, guestVarsPath, hostConfig, osRelease, templateValues, vmFirmware } from './generated.ts';
import { hashOverlay, readOverlay } from './overlay.ts';
import type { Progress } from './progress.ts';
import { hashCode, hashSources, repoRoot } from './sources.ts';
import { toolVersion } from '../tools/versions.ts';
import { runLoggedStage, sha256, type StageRecord } from './stage.ts';

// What an image build needs from the whole build.
export interface ImageContext {
  cache: ContentCache;
  lock: Lockfile;
  progress: Progress;
  sourceDateEpoch: number;
  stages: StageRecord[];
  built: Map<string, Promise<BuiltImage>>;
  log: (line: string) => void;
}

// The result of building one image: output blobs and what went into them.
export interface BuiltImage {
  recipe: Recipe;
  vmlinuz: string;
  initrd: string;
  rootfs: string;
  kernelVersion: string;
  cmdline: string;
  inputs: Array<PackagePin & { role: string }>;
  dropped: { rules: string[]; files: number };
  rootfsStats: { entries: number; bytes: number; initrdBytes: number };
  guests: BuiltImage[];
  // The root tree as an EROFS disk (rootfs.erofs), when the recipe asks for the erofs output.
  disk?: string;
}

function lockedImage(ctx: ImageContext, recipe: Recipe): LockedImage {
  const locked = ctx.lock.images[recipe.name];
  if (!locked) throw new FailureError(`the lockfile has no image ${recipe.name}`, { hint: 'run `mvos lock` again' });
  return locked;
}


function pinsKey(pins: readonly PackagePin[]): string {
  return sha256(pins.map((p) => `${p.name}=${p.version}:${p.sha256}`).join('\n'));
}

async function installPackages(ctx: ImageContext, recipe: Recipe, pins: PackagePin[]): Promise<{ record: StageRecord; rules: string[] }> {
  const drop = dropFilter(recipe.drop);
  const code = hashCode(['builder/pipeline/image.ts', 'builder/inputs/deb.ts', 'builder/rootfs/tree.ts', 'builder/rootfs/drop.ts', 'builder/archive/tar.ts']);
  const record = await runLoggedStage(ctx, `packages(${recipe.name})`, { pins: pinsKey(pins), drop: sha256(drop.rules.join('\n')), sde: String(ctx.sourceDateEpoch), code }, async () => {
    const tree = new FileTree();
    const dropped: string[] = [];
    const task = ctx.progress.start(`extracting ${pins.length} packages for ${recipe.name}`, pins.length);
    for (const pin of pins) {
      const deb = await ctx.cache.read(pin.sha256, `${pin.name} ${pin.version}`);
      const result = await addDebToTree(tree, deb, { origin: `pkg:${pin.name}`, keep: drop.keep, label: pin.name });
      dropped.push(...result.dropped);
      task.advance(1);
    }
    task.done();
    return { 'packages.tar': await writeTar(tree, { mtime: ctx.sourceDateEpoch }), 'dropped.json': Buffer.from(JSON.stringify(dropped.sort())) };
  });
  return { record, rules: drop.rules };
}

async function makeKernel(ctx: ImageContext, recipe: Recipe, locked: LockedImage): Promise<{ vmlinuz: string; modules?: { tar: string; load: string }; version: string; pins: Array<PackagePin & { role: string }> }> {
  if (locked.kernel) {
    const pin = pinOf(ctx.lock, locked.kernel.package);
    const code = hashCode(['builder/pipeline/image.ts', 'builder/kernel/debian.ts', 'builder/kernel/modules.ts', 'builder/archive/tar.ts', 'builder/rootfs/tree.ts']);
    const inputs = { kernel: pin.sha256, modules: recipe.kernel.modules.join(','), sde: String(ctx.sourceDateEpoch), code, depmod: await toolVersion('depmod') };
    const record = await runLoggedStage(ctx, `kernel(${recipe.name})`, inputs, async () => {
      const kernel = await extractDebianKernel(await ctx.cache.read(pin.sha256, pin.name), pin.name);
      const selected = await selectModules(kernel, [...recipe.kernel.modules]);
      const tree = new FileTree();
      for (const [path, content] of [...selected.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
        tree.add({ path: `lib/modules/${kernel.version}/${path}`, type: 'file', mode: 0o644, uid: 0, gid: 0, content, origin: `pkg:${pin.name}` });
      }
      return {
        vmlinuz: kernel.vmlinuz,
        'modules.tar': await writeTar(tree, { mtime: ctx.sourceDateEpoch }),
        'modules.load': Buffer.from(selected.loadOrder.map((m) => `${m}\n`).join('')),
        version: Buffer.from(kernel.version),
      };
    });
    const version = (await ctx.cache.read(record.outputs.version!, 'kernel version')).toString();
    return { vmlinuz: record.outputs.vmlinuz!, modules: { tar: record.outputs['modules.tar']!, load: record.outputs['modules.load']! }, version, pins: [{ ...pin, role: 'kernel' }] };
  }
  if (locked.kernelSource && recipe.kernel.source) {
    const pin = pinOf(ctx.lock, locked.kernelSource.package);
    const configDir = `${kernelConfigDir}/${recipe.kernel.source}`;
    const fragments = await readConfigFragments(configDir);
    const key = kernelSourceKey(pin.sha256, fragments, 'tinyconfig', { sourceDateEpoch: ctx.sourceDateEpoch, toolchain: await kernelToolchain() });
    const record = await runLoggedStage(ctx, `kernel-source(${recipe.kernel.source})`, { key, code: hashCode(['builder/kernel/source.ts']) }, async () => {
      const source = await ctx.cache.read(pin.sha256, pin.name);
      ctx.log(`building kernel ${recipe.kernel.source} from ${pin.name} ${pin.version} (several minutes; cached afterwards)`);
      // A private work folder per build: two builds sharing one would corrupt each other's trees.
      await mkdir(join(ctx.cache.root, 'kernel-build'), { recursive: true });
      const workDir = await mkdtemp(join(ctx.cache.root, 'kernel-build', 'build-'));
      const built = await buildKernelFromSource({ sourceDeb: source, sourceLabel: pin.name, configDir, workDir, sourceDateEpoch: ctx.sourceDateEpoch, onLine: () => undefined }).finally(() =>
        rm(workDir, { recursive: true, force: true }),
      );
      return { vmlinuz: built.bzImage, config: Buffer.from(built.config), version: Buffer.from(built.version) };
    });
    const version = (await ctx.cache.read(record.outputs.version!, 'kernel version')).toString();
    return { vmlinuz: record.outputs.vmlinuz!, version, pins: [{ ...pin, role: 'kernel-source' }] };
  }
  throw new FailureError(`${recipe.name} has no kernel to build`, { hint: 'set kernel.package or kernel.source in the recipe' });
}

async function bundleAgentStage(ctx: ImageContext): Promise<string> {
  const record = await runLoggedStage(ctx, 'agent', { sources: hashSources(['agent', 'builder', 'common']) }, async () => {
    const bundle = await bundleAgent();
    return { 'agent.mjs': bundle.code };
  });
  return record.outputs['agent.mjs']!;
}

// A host with an agent and a small guest kernel can run container workloads: it carries the container init.
function carriesContainers(recipe: Recipe): boolean {
  return recipe.kind === 'host' && recipe.agent.enabled && containerKernel(recipe) !== undefined;
}

function fileEntry(path: string, content: Buffer | string, mode = 0o644, origin = 'generated') {
  return { path, type: 'file' as const, mode, uid: 0, gid: 0, content: Buffer.isBuffer(content) ? content : Buffer.from(content), origin };
}

async function assembleRootfs(
  ctx: ImageContext,
  recipe: Recipe,
  parts: { packages: string; modules?: { tar: string; load: string }; agent?: string; guests: BuiltImage[]; vmVars: Record<string, string> },
): Promise<StageRecord> {
  const overlays = recipe.overlays.map((dir) => ({ dir, entries: readOverlay(dir) }));
  const values = templateValues(recipe);
  const rendered = recipe.templates.map((t) => {
    try {
      return { target: t.target, mode: t.mode, text: renderTemplate(readFileSync(t.source, 'utf8'), values), source: t.source };
    } catch (cause) {
      throw new FailureError(`template ${relative(repoRoot, t.source)} failed to render: ${(cause as Error).message}`, { cause });
    }
  });
  // Agent users' sealed secrets and hashes come from the key folder (outside the repository); the key ships root-only.
  const agentUsers = recipe.kind === 'host' ? await resolveHostUsers(recipe.agent.users, defaultKeyDir()) : { users: [] };
  // The TCP API's certificate and key, when the recipe takes them from the key folder; the key ships root-only like the secret key.
  const apiTls = recipe.kind === 'host' && recipe.agent.apiTls === 'key-folder' ? await readApiTls(defaultKeyDir(), recipe.agent) : undefined;
  const generated: Record<string, string> = { 'etc/os-release': osRelease(recipe) };
  if (recipe.kind === 'host') {
    generated['etc/mvos/host.json'] = `${JSON.stringify(hostConfig(recipe, agentUsers), null, 2)}\n`;
    generated['etc/mvos/state-label'] = `${recipe.host.stateLabel}\n`;
  }
  const inputs: Record<string, string> = {
    packages: parts.packages,
    overlays: sha256(JSON.stringify(overlays.map((o) => [relative(repoRoot, o.dir), hashOverlay(o.entries)]))),
    templates: sha256(JSON.stringify(rendered.map((r) => [r.target, r.mode, r.text]))),
    generated: sha256(JSON.stringify(generated)),
    modules: parts.modules ? `${parts.modules.tar}:${parts.modules.load}` : '',
    agent: parts.agent ?? '',
    secretKey: agentUsers.secretKey ? sha256(agentUsers.secretKey) : '',
    apiTls: apiTls ? sha256(Buffer.concat([apiTls.cert, apiTls.key])) : '',
    guests: parts.guests.map((g) => `${g.recipe.name}:${g.vmlinuz}:${g.initrd}:${g.disk ?? ''}`).join(','),
    vmVars: JSON.stringify(Object.entries(parts.vmVars).sort()),
    containerInit: carriesContainers(recipe) ? sha256(containerInitScript()) : '',
    sde: String(ctx.sourceDateEpoch),
    code: hashCode(['builder/pipeline/image.ts', 'builder/pipeline/generated.ts', 'builder/pipeline/overlay.ts', 'builder/pipeline/container-init.ts', 'builder/archive/tar.ts', 'builder/archive/cpio.ts', 'builder/rootfs/tree.ts']),
  };
  return runLoggedStage(ctx, `rootfs(${recipe.name})`, inputs, async () => {
    const tree = await readTar(await ctx.cache.read(parts.packages, `${recipe.name} packages`), { origin: 'packages' });
    if (parts.modules) {
      const modules = await readTar(await ctx.cache.read(parts.modules.tar, `${recipe.name} modules`), { origin: 'kernel' });
      for (const entry of modules.entries()) tree.add(entry);
      generated['etc/mvos/modules'] = (await ctx.cache.read(parts.modules.load, 'module load order')).toString('utf8');
    }
    for (const { dir, entries } of overlays) {
      const origin = `overlay:${relative(repoRoot, dir)}`;
      for (const e of entries) {
        if (e.type === 'directory') tree.mkdirp(e.path, { mode: e.mode, origin });
        else if (e.type === 'symlink') tree.add({ path: e.path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: e.linkname, origin });
        else tree.add(fileEntry(e.path, e.content!, e.mode, origin));
      }
    }
    for (const r of rendered) tree.add(fileEntry(r.target.slice(1), r.text, r.mode, `template:${r.target}`));
    for (const [path, text] of Object.entries(generated)) tree.add(fileEntry(path, text));
    if (agentUsers.secretKey) tree.add(fileEntry(IMAGE_SECRET_KEY.slice(1), agentUsers.secretKey, 0o400, 'agent-users'));
    if (apiTls) {
      tree.add(fileEntry(IMAGE_API_CERT.slice(1), apiTls.cert, 0o444, 'agent-tls'));
      tree.add(fileEntry(IMAGE_API_KEY.slice(1), apiTls.key, 0o400, 'agent-tls'));
    }
    if (parts.agent) tree.add(fileEntry('usr/lib/mvos/agent.mjs', await ctx.cache.read(parts.agent, 'agent bundle')));
    for (const guest of parts.guests) {
      const vm = recipe.vms.find((v) => v.recipe === guest.recipe)!;
      const paths = guestImagePaths(vm);
      tree.add(fileEntry(paths.kernel.slice(1), await ctx.cache.read(guest.vmlinuz, `${guest.recipe.name} kernel`), 0o644, `image:${guest.recipe.name}`));
      tree.add(fileEntry(paths.initrd.slice(1), await ctx.cache.read(guest.initrd, `${guest.recipe.name} initrd`), 0o644, `image:${guest.recipe.name}`));
      const disk = guestDiskPath(vm);
      if (disk && guest.disk) tree.add(fileEntry(disk.slice(1), await ctx.cache.read(guest.disk, `${guest.recipe.name} root disk`), 0o444, `image:${guest.recipe.name}`));
    }
    for (const vm of recipe.vms) {
      const vars = parts.vmVars[vm.name];
      if (vars) tree.add(fileEntry(guestVarsPath(vm).slice(1), await ctx.cache.read(vars, `${vm.name} NVRAM store`), 0o644, `firmware:${vm.name}`));
      const code = (vmFirmware(vm) as { code?: string }).code;
      if (code && !tree.has(code.slice(1))) throw new FailureError(`VM ${vm.name} boots ${code}, which the host image does not carry`, { hint: 'keep ovmf and seabios in the host recipe\'s packages and out of its drop rules' });
    }
    if (carriesContainers(recipe)) {
      const busybox = tree.get('bin/busybox');
      if (!busybox?.content) throw new FailureError('the host runs container workloads with its busybox, and the image has no /bin/busybox', { hint: 'keep busybox-static in the host recipe\'s packages' });
      tree.add(fileEntry(CONTAINER_INITRD.slice(1), await containerInitramfs(busybox.content, ctx.sourceDateEpoch), 0o644, 'container-init'));
    }
    // The kernel opens /dev/console for init before devtmpfs is mounted, so the archive carries the two nodes it needs.
    tree.mkdirp('dev', { mode: 0o755, origin: 'generated' });
    tree.add({ path: 'dev/console', type: 'char', mode: 0o600, uid: 0, gid: 0, devmajor: 5, devminor: 1, origin: 'generated' });
    tree.add({ path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, devmajor: 1, devminor: 3, origin: 'generated' });
    for (const dir of ['proc', 'sys', 'run', 'tmp', 'var/lib/mvos', 'mnt']) tree.mkdirp(dir, { mode: dir === 'tmp' ? 0o1777 : 0o755, origin: 'generated' });
    if (!tree.has('init')) throw new FailureError(`${recipe.name} has no /init`, { hint: 'an overlay must provide the init program (see rootfs/host/overlay/init)' });
    return { 'rootfs.tar': await writeTar(tree, { mtime: ctx.sourceDateEpoch }), stats: Buffer.from(JSON.stringify({ entries: tree.size, bytes: tree.contentBytes })) };
  });
}

// The Debian package of the root disk's mkfs.erofs (asked for by the recipe output erofs).
export const ROOT_DISK_PACKAGES = ['erofs-utils'] as const;

// The same tree the initramfs holds, as a read-only EROFS disk: a guest that boots from it runs exactly what was built.
async function makeRootDisk(ctx: ImageContext, recipe: Recipe, rootfs: string): Promise<string> {
  const inputs = {
    rootfs,
    sde: String(ctx.sourceDateEpoch),
    code: hashCode(['builder/pipeline/image.ts', 'builder/rootfs/erofs.ts', 'common/erofs.ts', 'builder/archive/tar.ts', 'builder/rootfs/tree.ts']),
    mkfs: await toolVersion('mkfs.erofs', '-V'),
  };
  const record = await runLoggedStage(ctx, `erofs(${recipe.name})`, inputs, async () => {
    const tree = await readTar(await ctx.cache.read(rootfs, `${recipe.name} rootfs`), { origin: 'rootfs' });
    return { 'rootfs.erofs': (await writeErofs(tree, { sourceDateEpoch: ctx.sourceDateEpoch })).image };
  });
  return record.outputs['rootfs.erofs']!;
}

async function packInitramfs(ctx: ImageContext, recipe: Recipe, rootfs: string): Promise<StageRecord> {
  const { compression, level } = recipe.initramfs;
  const inputs = {
    rootfs,
    compression,
    level: String(level ?? ''),
    sde: String(ctx.sourceDateEpoch),
    code: hashCode(['builder/pipeline/image.ts', 'builder/archive/cpio.ts', 'builder/archive/compress.ts', 'builder/archive/tar.ts', 'builder/rootfs/tree.ts']),
    compressor: compression === 'zstd' ? await toolVersion('zstd', '-V') : `node ${process.versions.zlib}`,
  };
  return runLoggedStage(ctx, `initramfs(${recipe.name})`, inputs, async () => {
    const tree = await readTar(await ctx.cache.read(rootfs, `${recipe.name} rootfs`), { origin: 'rootfs' });
    const cpio = await writeCpioNewc(tree, { mtime: ctx.sourceDateEpoch });
    return { initrd: await compress(cpio, compression, level), 'cpio-size': Buffer.from(String(cpio.length)) };
  });
}

// Builds one image and, for a host, every guest image it carries; each image is built once per build.
export function buildImage(ctx: ImageContext, recipe: Recipe): Promise<BuiltImage> {
  let pending = ctx.built.get(recipe.file);
  if (!pending) {
    pending = buildImageOnce(ctx, recipe);
    ctx.built.set(recipe.file, pending);
  }
  return pending;
}

async function buildImageOnce(ctx: ImageContext, recipe: Recipe): Promise<BuiltImage> {
  const locked = lockedImage(ctx, recipe);
  const pins = locked.packages.map((name) => pinOf(ctx.lock, name));
  const guests: BuiltImage[] = [];
  for (const vm of recipe.vms) guests.push(await buildImage(ctx, vm.recipe));
  const packages = await installPackages(ctx, recipe, pins);
  const kernel = await makeKernel(ctx, recipe, locked);
  const agent = recipe.kind === 'host' && recipe.agent.enabled ? await bundleAgentStage(ctx) : undefined;
  const vmVars = recipe.kind === 'host' && recipe.vms.length > 0 ? await makeVmVars(ctx, recipe.name, recipe.vms, await pinFirmware(ctx, ctx.lock)) : {};
  const rootfs = await assembleRootfs(ctx, recipe, {
    packages: packages.record.outputs['packages.tar']!,
    modules: kernel.modules,
    agent,
    guests,
    vmVars,
  });
  const initramfs = await packInitramfs(ctx, recipe, rootfs.outputs['rootfs.tar']!);
  const disk = recipe.outputs.includes('erofs') ? await makeRootDisk(ctx, recipe, rootfs.outputs['rootfs.tar']!) : undefined;
  const stats = JSON.parse((await ctx.cache.read(rootfs.outputs.stats!, 'rootfs stats')).toString()) as { entries: number; bytes: number };
  const dropped = JSON.parse((await ctx.cache.read(packages.record.outputs['dropped.json']!, 'dropped files')).toString()) as string[];
  const firmware = locked.firmware.map((name) => ({ ...pinOf(ctx.lock, name), role: 'firmware' }));
  return {
    recipe,
    vmlinuz: kernel.vmlinuz,
    initrd: initramfs.outputs.initrd!,
    rootfs: rootfs.outputs['rootfs.tar']!,
    kernelVersion: kernel.version,
    cmdline: recipe.kernel.cmdline.join(' '),
    inputs: [...pins.map((p) => ({ ...p, role: 'rootfs' })), ...kernel.pins, ...firmware],
    dropped: { rules: packages.rules, files: dropped.length },
    rootfsStats: { entries: stats.entries, bytes: stats.bytes, initrdBytes: 0 },
    guests,
    disk,
  };
}
