// Boots QEMU from firmware (OVMF code + a private vars copy) and disks until one of the given console markers.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadKeySet } from '../../../builder/firmware/keys.ts';
import type { FirmwareFile } from '../../../builder/firmware/pinned.ts';
import { loadPreset, presetVariables } from '../../../builder/firmware/preset.ts';
import { readVarstore, writeVarstore } from '../../../builder/firmware/varstore.ts';
import { ContentCache } from '../../../builder/inputs/cache.ts';
import { fetchPins } from '../../../builder/inputs/fetch.ts';
import { pinOf, readLockfile } from '../../../builder/inputs/lockfile.ts';
import { pinnedFirmwarePaths } from '../../../builder/pipeline/firmware.ts';
import { createProgress } from '../../../builder/pipeline/progress.ts';
import { repoRoot } from '../../../builder/pipeline/sources.ts';
import { type QemuFirmware, qemuArgv } from '../../../common/qemu/argv.ts';
import { QemuRun } from '../../../common/qemu/runner.ts';
import { ARTIFACTS } from '../../lib/boot.ts';

// The firmware files of the ovmf and seabios packages recipes/host.lock.json pins (fetched into the cache when
// missing), not the machine's.
export async function pinnedFirmware(): Promise<Record<FirmwareFile, string>> {
  const lock = readLockfile(join(repoRoot, 'recipes/host.lock.json'))!;
  const cache = ContentCache.fromEnvironment();
  await fetchPins([pinOf(lock, 'ovmf'), pinOf(lock, 'seabios')], {
    cache,
    offline: false,
    progress: createProgress(process.stderr, true),
    debian: lock.debian,
    lockShown: 'recipes/host.lock.json',
  });
  return pinnedFirmwarePaths(cache, lock);
}

// A variable store with Secure Boot on and the key set in `keysDir` enrolled (PK, KEK, db), written to `out` from the
// pinned OVMF's template; it reads back identically.
export async function secureBootVars(
  firmware: Record<FirmwareFile, string>,
  keysDir: string,
  out: string,
): Promise<void> {
  const variables = presetVariables(loadPreset('secureboot'), await loadKeySet(keysDir));
  writeFileSync(out, writeVarstore(variables, readFileSync(firmware['ovmf-vars'])));
  if (!isDeepStrictEqual(readVarstore(readFileSync(out)).variables, variables))
    throw new Error(`${out}: the variable store does not read back as written`);
}

// What one firmware boot ended with: the marker that matched, the ms to it, and the whole console.
export interface FirmwareBoot {
  matched: string;
  ms: number;
  log: string;
}

// Boots with a copy of `vars` (OVMF writes to it) and the disks as `extra` QEMU args; stops at the first of the
// markers.
export async function firmwareBoot(options: {
  name: string;
  firmware: QemuFirmware;
  work: string;
  disks: { file: string; addr: number }[];
  markers: RegExp[];
  timeoutS: number;
}): Promise<FirmwareBoot> {
  const vars = join(options.work, `${options.name}.vars.fd`);
  copyFileSync(options.firmware.vars!, vars);
  const extra: string[] = [];
  options.disks.forEach((d, i) => {
    extra.push(
      '-drive',
      `file=${d.file},format=raw,if=none,id=esp${i},snapshot=on`,
      '-device',
      `virtio-blk-pci,drive=esp${i},addr=0x${d.addr.toString(16)}`,
    );
  });
  const argv = qemuArgv({
    machine: 'q35',
    accel: 'tcg',
    cpus: 2,
    memoryMiB: 2048,
    firmware: { ...options.firmware, vars },
    serial: 'stdio',
    noReboot: true,
    extra,
  });
  const logFile = join(ARTIFACTS, `${options.name}.log`);
  const run = await QemuRun.start({ argv, log: logFile });
  const any = new RegExp(options.markers.map((m) => `(?:${m.source})`).join('|'));
  try {
    const ms = await run.waitFor(any, options.timeoutS * 1000);
    const log = run.output;
    const matched = options.markers.find((m) => m.test(log))?.source ?? '';
    // A boot that reached a marker needs no log left behind; a timeout keeps it for the reader.
    rmSync(logFile, { force: true });
    return { matched, ms, log };
  } finally {
    await run.stop();
  }
}
