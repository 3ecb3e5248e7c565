// Resolving a recipe's inputs into a lockfile: each image's package closure, kernel, firmware and Node runtime.
import { dirname, relative } from 'node:path';
import { FailureError, UserError } from '../../common/errors.ts';
import type { Recipe } from '../recipe/types.ts';
import { type AptContext, type PackagePin, resolvePackages } from './apt.ts';
import type { LockedDebian } from './debian-sources.ts';
import { type LockedImage, type Lockfile, lockfileVersion, pinOf } from './lockfile.ts';

// The Debian package that carries the Node runtime bundled with the agent.
export const nodeRuntimePackage = 'nodejs';
// The package whose dependency names the current kernel source tree.
export const kernelSourceRequest = 'linux-source';

// What changed between two lockfiles, by package name.
export interface LockChanges {
  added: PackagePin[];
  removed: PackagePin[];
  moved: Array<{ name: string; from: string; to: string }>;
}

// The recipes whose inputs go into one lockfile: the recipe itself and each VM's guest recipe, once each.
export function imagesOf(recipe: Recipe): Recipe[] {
  const seen = new Map<string, Recipe>([[recipe.file, recipe]]);
  for (const vm of recipe.vms) if (!seen.has(vm.recipe.file)) seen.set(vm.recipe.file, vm.recipe);
  return [...seen.values()];
}

// The packages an image's root file system asks for (the agent brings the Node runtime on a host).
export function rootfsRequests(recipe: Recipe): string[] {
  const names = new Set(recipe.packages);
  if (recipe.kind === 'host' && recipe.agent.enabled) names.add(nodeRuntimePackage);
  return [...names].sort();
}

// The firmware packages an image needs: a host carries both for its VMs; a guest names the one it boots.
export function firmwareRequests(recipe: Recipe): string[] {
  if (recipe.kind === 'host') return ['ovmf', 'seabios'];
  return [recipe.firmware.type === 'seabios' ? 'seabios' : 'ovmf'];
}

async function pickFromClosure(ctx: AptContext, request: string, pattern: RegExp, what: string): Promise<PackagePin> {
  const closure = await resolvePackages(ctx, [request], { withDependencies: true });
  const found = closure.find((pin) => pattern.test(pin.name));
  if (!found) {
    throw new UserError(`${request} does not lead to a ${what} package`, {
      hint: `name a ${what} package directly, e.g. one listed by \`apt-cache search ${what}\``,
    });
  }
  return found;
}

// The kernel (or kernel source) package a metapackage request led to before, when it is still pinned and not being
// updated: it is resolved by name, because the unpinned metapackage may by now depend on a newer version.
function lockedChoice(
  previous: Lockfile | undefined,
  update: ReadonlySet<string>,
  request: string,
  pick: (image: LockedImage) => { request: string; package: string } | undefined,
): string | undefined {
  for (const image of Object.values(previous?.images ?? {})) {
    const choice = pick(image);
    if (choice?.request === request && previous?.packages[choice.package] && !update.has(choice.package))
      return choice.package;
  }
  return undefined;
}

// Resolves every input of a recipe against an apt context (whose preferences keep the old pins) into a new lockfile.
export async function resolveLock(
  recipe: Recipe,
  ctx: AptContext,
  previous: Lockfile | undefined,
  now: Date,
  debian: LockedDebian,
  update: ReadonlySet<string> = new Set(),
): Promise<Lockfile> {
  const pins = new Map<string, PackagePin>();
  const add = (pin: PackagePin): void => {
    const known = pins.get(pin.name);
    if (known && known.version !== pin.version) {
      throw new FailureError(
        `${pin.name} resolved to two versions (${known.version} and ${pin.version}) for different images`,
        { hint: 'the apt sources changed during locking; run `mvos lock` again' },
      );
    }
    pins.set(pin.name, pin);
  };
  const base = dirname(recipe.file);
  const images: Record<string, LockedImage> = {};
  for (const image of imagesOf(recipe)) {
    const requested = rootfsRequests(image);
    const closure = await resolvePackages(ctx, requested, { withDependencies: true });
    closure.forEach(add);
    const firmware = await resolvePackages(ctx, firmwareRequests(image), { withDependencies: false });
    firmware.forEach(add);
    const locked: LockedImage = {
      recipe: relative(base, image.file),
      kind: image.kind,
      requested,
      packages: closure.map((p) => p.name),
      firmware: firmware.map((p) => p.name),
    };
    if (image.kernel.package) {
      const named = /^linux-image-\d/.test(image.kernel.package)
        ? image.kernel.package
        : lockedChoice(previous, update, image.kernel.package, (i) => i.kernel);
      const kernel = named
        ? (await resolvePackages(ctx, [named], { withDependencies: false }))[0]!
        : await pickFromClosure(ctx, image.kernel.package, /^linux-image-\d.*-amd64(-unsigned)?$/, 'linux-image');
      add(kernel);
      locked.kernel = { request: image.kernel.package, package: kernel.name };
    }
    if (image.kernel.source) {
      const named = lockedChoice(previous, update, kernelSourceRequest, (i) => i.kernelSource);
      const source = named
        ? (await resolvePackages(ctx, [named], { withDependencies: false }))[0]!
        : await pickFromClosure(ctx, kernelSourceRequest, /^linux-source-\d/, 'linux-source');
      add(source);
      locked.kernelSource = { request: kernelSourceRequest, package: source.name };
    }
    if (image.kind === 'host' && image.agent.enabled) locked.runtime = { node: nodeRuntimePackage };
    images[image.name] = locked;
  }
  const packages = Object.fromEntries([...pins.values()].map(({ name, ...rest }) => [name, rest]));
  const changed = previous
    ? previous.debian?.suite !== debian.suite || diffLocks(previous, { packages } as Lockfile).moved.length > 0
    : false;
  const today = Math.floor(now.getTime() / 86_400_000) * 86_400;
  return {
    lockfileVersion,
    recipe: relative(base, recipe.file),
    arch: recipe.arch,
    debian,
    sourceDateEpoch: previous && !changed ? previous.sourceDateEpoch : today,
    images,
    packages,
  };
}

// Compares two lockfiles' packages.
export function diffLocks(before: Lockfile, after: Lockfile): LockChanges {
  const names = new Set([...Object.keys(before.packages), ...Object.keys(after.packages)]);
  const changes: LockChanges = { added: [], removed: [], moved: [] };
  for (const name of [...names].sort()) {
    const a = before.packages[name];
    const b = after.packages[name];
    if (!a) changes.added.push(pinOf(after, name));
    else if (!b) changes.removed.push(pinOf(before, name));
    else if (a.version !== b.version || a.sha256 !== b.sha256)
      changes.moved.push({ name, from: a.version, to: b.version });
  }
  return changes;
}

// Refuses pins that moved without being asked to: their locked version is no longer offered by the apt sources.
export function assertOnlyRequestedMoves(changes: LockChanges, allowed: ReadonlySet<string>): void {
  const unasked = changes.moved.filter((m) => !allowed.has(m.name));
  if (unasked.length === 0) return;
  throw new UserError(
    `${unasked.length} pinned package${unasked.length === 1 ? '' : 's'} would move without being asked: ${unasked.map((m) => `${m.name} ${m.from} → ${m.to}`).join(', ')}`,
    {
      hint: `the locked versions are no longer offered by the apt sources; move them on purpose with ${unasked.map((m) => `--update ${m.name}`).join(' ')}`,
    },
  );
}

// Refuses a lockfile that no longer matches its recipe (a package, kernel or image added since it was written).
export function assertLockMatchesRecipe(recipe: Recipe, lock: Lockfile, shown: string): void {
  const stale: string[] = [];
  if (lock.debian.suite !== recipe.debian.suite)
    stale.push(`it pins Debian ${lock.debian.suite}, the recipe asks for ${recipe.debian.suite}`);
  for (const image of imagesOf(recipe)) {
    const locked = lock.images[image.name];
    if (!locked) {
      stale.push(`image ${image.name} is not in it`);
      continue;
    }
    const requested = rootfsRequests(image);
    const missing = requested.filter((name) => !locked.requested.includes(name));
    const extra = locked.requested.filter((name) => !requested.includes(name));
    if (missing.length) stale.push(`${image.name} asks for ${missing.join(', ')}`);
    if (extra.length) stale.push(`${image.name} no longer asks for ${extra.join(', ')}`);
    if ((image.kernel.package ?? undefined) !== locked.kernel?.request)
      stale.push(`${image.name}'s kernel is now ${image.kernel.package ?? 'not a package'}`);
    if (!!image.kernel.source !== !!locked.kernelSource) stale.push(`${image.name}'s kernel source changed`);
    const firmware = firmwareRequests(image);
    if (firmware.join() !== [...locked.firmware].sort().join())
      stale.push(`${image.name} now boots ${firmware.join(', ')}`);
  }
  if (stale.length > 0) {
    throw new UserError(`${shown} is out of date: ${stale.join('; ')}`, {
      hint: `run \`mvos lock ${relative(process.cwd(), recipe.file)}\`, then build again`,
    });
  }
}

// Every pin the lockfile holds, sorted by name.
export function allPins(lock: Lockfile): PackagePin[] {
  return Object.keys(lock.packages)
    .sort()
    .map((name) => pinOf(lock, name));
}
