// Bench rows for A/B updates, on this machine with the default host image: a bundle's size beside its payloads, making
// it beside copying the same bytes, and applying it (checked whole, staged, written to the other slot, synced, read
// back from the disk, the environment flipped) beside copying the same bytes into a slot folder with fsync, in the
// same run. The whole update on a real host (push, reboot, gate) is timed by scenario 026.

import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { folderEsp } from '../../agent/update/esp.ts';
import { UpdateService } from '../../agent/update/service.ts';
import { makeBundle } from '../../builder/update/make-bundle.ts';
import { initUpdateKey } from '../../builder/update/update-key.ts';
import { fsyncPath } from '../../common/fsync.ts';
import { grubEnv, slotConfig } from '../../common/update/slots.ts';
import { ARTIFACTS } from '../lib/boot.ts';
import type { HostImage } from '../lib/host-image.ts';
import { type BenchRow, median } from './agent.ts';

async function copyPayloads(image: HostImage, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  for (const name of ['vmlinuz', 'initrd']) {
    await copyFile(join(image.dir, name), join(into, name));
    await fsyncPath(join(into, name));
  }
  await fsyncPath(into);
}

// The rows; `runs` applies and copies each.
export async function updateRows(image: HostImage, runs: number): Promise<BenchRow[]> {
  // On disk beside the other artifacts (a tmpfs would make every sync free).
  await mkdir(ARTIFACTS, { recursive: true });
  const work = await mkdtemp(join(ARTIFACTS, 'bench-update-'));
  try {
    const keyDir = join(work, 'keys');
    await mkdir(keyDir, { mode: 0o700 });
    await initUpdateKey(keyDir);
    const publicLine = (await readFile(join(keyDir, 'update.pub'), 'utf8')).trim().split('\n').pop()!;
    const payloadBytes = (await stat(image.kernel)).size + (await stat(image.initrd)).size;
    const made: number[] = [];
    const copied: number[] = [];
    const applied: number[] = [];
    const slotCopies: number[] = [];
    let bundle = '';
    let bundleBytes = 0;
    let version = '';
    for (let i = 0; i < runs; i++) {
      let started = performance.now();
      const result = await makeBundle(image.dir, {
        keyDir,
        out: join(work, 'host.mvu'),
        expiresDays: 90,
        minVersion: '0.0.0',
      });
      made.push(performance.now() - started);
      bundle = result.file;
      bundleBytes = result.bytes;
      version = result.manifest.version;
      started = performance.now();
      await copyPayloads(image, join(work, `copy-${i}`));
      copied.push(performance.now() - started);

      // A fresh ESP with slot a, and a host one patch version older, so the bundle applies.
      const esp = join(work, `esp-${i}`);
      await mkdir(join(esp, 'boot/a'), { recursive: true });
      await mkdir(join(esp, 'boot/grub'), { recursive: true });
      await writeFile(join(esp, 'boot/a/slot.cfg'), slotConfig('0.0.1', 'console=ttyS0'));
      await writeFile(join(esp, 'boot/grub/grubenv'), grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: '' }));
      const service = await UpdateService.open({
        config: { publicKey: publicLine, deadline: 300, require: [] },
        host: result.manifest.host,
        version: '0.0.1',
        stateDir: join(work, `state-${i}`),
        runDir: work,
        esp: folderEsp(esp),
        booted: 'a',
        log: () => undefined,
      });
      started = performance.now();
      await service.apply(createReadStream(bundle), 'bench', false);
      applied.push(performance.now() - started);
      started = performance.now();
      await copyPayloads(image, join(work, `slot-copy-${i}`, 'boot/b'));
      slotCopies.push(performance.now() - started);
    }
    const apply = median(applied);
    const slotCopy = median(slotCopies);
    const make = median(made);
    const copy = median(copied);
    return [
      {
        metric: `update bundle of ${version} (kernel + initrd)`,
        value: bundleBytes / 2 ** 20,
        unit: 'MiB',
        baseline: payloadBytes / 2 ** 20,
        ratio: bundleBytes / payloadBytes,
        note: 'baseline: the payloads alone (the bundle adds the manifest, its signature and tar headers)',
      },
      {
        metric: `make the bundle (hash, sign, write, fsync; median of ${runs})`,
        value: make / 1000,
        unit: 's',
        baseline: copy / 1000,
        ratio: make / copy,
        note: 'baseline: copying the payloads with fsync',
      },
      {
        metric: `apply the bundle (check, stage, write slot b, read back, flip; median of ${runs})`,
        value: apply / 1000,
        unit: 's',
        baseline: slotCopy / 1000,
        ratio: apply / slotCopy,
        note: 'baseline: copying the payloads into a slot folder with fsync; the apply reads them back from the disk',
      },
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
