// Finding the ESP this boot came from: blkid's lines read for the label, and a mounted candidate recognised by its
// medium tag and the version in the booted slot (another host's stick, or another version, is not ours).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeTestEsp } from './esp.test-support.ts';
import { bootedSlot, isBootedEsp, labelledDevices } from './esp.ts';

test('blkid lines: every device with the label, in order', () => {
  const blkid = [
    '/dev/sda1: UUID="0b1c" TYPE="ext4"',
    '/dev/sda2: LABEL="MVOS-ESP" UUID="A1B2-C3D4" TYPE="vfat"',
    '/dev/vda: LABEL="MVOS-STATE" UUID="9f0e" TYPE="ext4"',
    '/dev/sdb2: LABEL="MVOS-ESP" UUID="A1B2-C3D4" TYPE="vfat"',
    '/dev/sdc1: LABEL="MVOS-ESP-OLD" TYPE="vfat"',
  ].join('\n');
  assert.equal(labelledDevices(blkid, 'MVOS-ESP'), ['/dev/sda2', '/dev/sdb2']);
  assert.equal(labelledDevices('', 'MVOS-ESP'), []);
});

test('the booted ESP: our host tag and the running version in the booted slot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-esp-'));
  try {
    makeTestEsp(dir);
    assert.ok(await isBootedEsp(dir, 'multiverse-host', 'a', '0.1.0'));
    assert.not.ok(await isBootedEsp(dir, 'other-host', 'a', '0.1.0'), 'another host');
    assert.not.ok(await isBootedEsp(dir, 'multiverse-host', 'a', '0.2.0'), 'another version');
    assert.not.ok(await isBootedEsp(dir, 'multiverse-host', 'b', '0.1.0'), 'an empty slot');
    assert.not.ok(await isBootedEsp(join(dir, 'boot'), 'multiverse-host', 'a', '0.1.0'), 'no tag at all');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the booted slot from the kernel command line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-cmdline-'));
  try {
    const file = join(dir, 'cmdline');
    for (const [line, slot] of [
      ['console=ttyS0 mvos.slot=b panic=10\n', 'b'],
      ['mvos.slot=a', 'a'],
      ['console=ttyS0 xmvos.slot=a', undefined],
      ['mvos.slot=c', undefined],
    ] as const) {
      writeFileSync(file, line);
      assert.is(await bootedSlot(file), slot, line);
    }
    assert.is(await bootedSlot(join(dir, 'missing')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
