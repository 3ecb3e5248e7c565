// A recipe that extends another starts its lock from the base's pins: what it inherits gets the same versions.

import type { DebianSuite } from '../recipe/types.ts';
import type { PackagePin } from './apt.ts';
import { type Lockfile, lockfilePath, pinOf, readLockfile } from './lockfile.ts';

// The nearest base recipe that has a lockfile, with that lockfile.
export interface InheritedLock {
  recipe: string;
  file: string;
  lock: Lockfile;
}

// A package pinned differently in a derived lock than in its base's.
export interface Drift {
  name: string;
  version: string;
  baseVersion: string;
}

// Finds the lockfile a derived recipe inherits from: its nearest base that has been locked from the same Debian suite
// (a base on another release shares no versions with it).
export function inheritedLock(bases: readonly string[], suite: DebianSuite): InheritedLock | undefined {
  for (const recipe of bases) {
    const file = lockfilePath(recipe);
    const lock = readLockfile(file);
    if (lock && lock.debian.suite === suite) return { recipe, file, lock };
  }
  return undefined;
}

// The pins apt is told to keep: the recipe's own earlier ones, then the base's over them (the base decides what it
// shares), less the ones named with --update.
export function pinsToKeep(
  previous: Lockfile | undefined,
  base: Lockfile | undefined,
  update: ReadonlySet<string>,
): PackagePin[] {
  const kept = new Map<string, PackagePin>();
  for (const lock of [previous, base]) {
    if (!lock) continue;
    for (const name of Object.keys(lock.packages)) if (!update.has(name)) kept.set(name, pinOf(lock, name));
  }
  return [...kept.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

// Packages the derived lock pins at another version (or other bytes) than its base does.
export function driftFromBase(lock: Lockfile, base: Lockfile): Drift[] {
  const drift: Drift[] = [];
  for (const name of Object.keys(lock.packages).sort()) {
    const own = lock.packages[name];
    const theirs = base.packages[name];
    if (own && theirs && (own.version !== theirs.version || own.sha256 !== theirs.sha256))
      drift.push({ name, version: own.version, baseVersion: theirs.version });
  }
  return drift;
}
