// The raw disk's A/B slots under real firmware (SeaBIOS, the disk writable): a slot named in grubenv's try_slot boots
// once, as far as agent ready, and GRUB has cleared the try before it booted; a try that dies (slot b's initrd broken:
// the kernel panics) leaves the next boot on boot_slot, which comes up as before. What the agent does with a good try
// (making it boot_slot) builds on this.

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../../common/exec.ts';
import { grubEnv, slotConfig } from '../../../common/update/slots.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { AGENT_READY, bootMedium } from '../../lib/media-boot.ts';

const ESP_OFFSET = 4096 * 512;
const MTOOLS = { env: { MTOOLS_SKIP_CHECK: '1' } };
const image = buildHostImage();
const dir = mkdtempSync(join(tmpdir(), 'mvos-qa-slots-'));
const disk = join(dir, 'disk.raw');
const esp = `${disk}@@${ESP_OFFSET}`;

async function grubenv(): Promise<Record<string, string>> {
  const text = (await runTool('mtype', ['-i', esp, '::/boot/grub/grubenv'], MTOOLS)).stdout;
  return Object.fromEntries([...text.matchAll(/^(\w+)=(.*)$/gm)].map(([, k, v]) => [k!, v!]));
}

// Writes a file onto the ESP (replacing it).
async function put(path: string, content: Buffer | string): Promise<void> {
  const file = join(dir, 'put');
  writeFileSync(file, content);
  await runTool('mcopy', ['-o', '-i', esp, file, `::/${path}`], MTOOLS);
}

function bootDisk(name: string, marker: string | RegExp) {
  return bootMedium({ name, file: disk, firmware: 'bios', media: 'disk', writable: true, marker, timeoutS: 300 });
}

test.before(async () => {
  copyFileSync(join(image.dir, 'multiverse-host.raw'), disk);
  const manifest = JSON.parse(readFileSync(join(image.dir, 'manifest.json'), 'utf8'));
  // Slot b: the same kernel and initrd, as an update would write it. Its slot.cfg says the version the initrd is (init
  // resets the boot counter only on the ESP whose booted slot holds the running version).
  await runTool('mmd', ['-i', esp, '::/boot/b'], MTOOLS);
  await put('boot/b/vmlinuz', readFileSync(join(image.dir, 'vmlinuz')));
  await put('boot/b/initrd', readFileSync(join(image.dir, 'initrd')));
  await put('boot/b/slot.cfg', slotConfig(manifest.image.version, manifest.image.kernel.cmdline));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a fresh disk boots slot a, with try_slot empty', async () => {
  assert.equal(await grubenv(), { boot_tries: '0', boot_slot: 'a', try_slot: '' });
});

test('try_slot=b boots slot b once, to agent ready; GRUB cleared the try before it booted', async () => {
  await put('boot/grub/grubenv', grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: 'b' }));
  // Until init has reset the boot counter too (it does so once the agent is ready).
  const tried = await bootDisk('025-try-b', /boot counter: this boot reached agent ready; boot_tries reset to 0/);
  assert.match(tried.log, AGENT_READY);
  assert.match(tried.log, 'mvos: trying slot b once');
  assert.match(tried.log, /mvos: booting multiverse-host \S+ from slot b/);
  const env = await grubenv();
  assert.is(env.try_slot, '', 'the try is used up');
  assert.is(env.boot_slot, 'a', 'nothing made b the boot slot');
  assert.is(env.boot_tries, '0', 'the boot reached ready');
});

test('a try that dies (a broken initrd: kernel panic) leaves the next boot on slot a, which comes up', async () => {
  await put('boot/b/initrd', Buffer.alloc(4096, 0x5a));
  await put('boot/grub/grubenv', grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: 'b' }));
  const dead = await bootDisk('025-broken-b', /Kernel panic/);
  assert.match(dead.log, 'mvos: trying slot b once');
  assert.is((await grubenv()).try_slot, '', 'cleared before the kernel ever ran');
  const back = await bootDisk('025-back-to-a', AGENT_READY);
  assert.not.match(back.log, 'trying slot');
  assert.match(back.log, /mvos: booting multiverse-host \S+ from slot a/);
  console.log(`  back on slot a after the failed try: agent ready ${(back.ms / 1000).toFixed(1)} s after QEMU started`);
});

test.run();
