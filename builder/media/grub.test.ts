import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { earlyConfig, grubConfig, grubImage, mbrBootCode, placeCore, RESCUE_ARGS } from './grub.ts';

const menu = { name: 'h', version: '1.0.0', cmdline: 'console=ttyS0', menuTimeout: 3, attempts: 2, counting: true };

test('grub.cfg counts tries on writable media and falls back to rescue after N', () => {
  const cfg = grubConfig(menu);
  assert.match(cfg, /set timeout=3/);
  assert.match(cfg, /terminal_output serial console/);
  assert.match(cfg, /if \[ "\$boot_tries" = "0" \]; then set next_tries=1; fi/);
  assert.match(cfg, /if \[ "\$boot_tries" = "1" \]; then set next_tries=2; fi/);
  assert.not.match(cfg, /= "2" \]; then set next_tries/);
  assert.match(cfg, /if \[ "\$boot_tries" -ge 2 \]; then\n\s+set default=rescue/);
  assert.match(cfg, /save_env -f "\$envfile" boot_tries/);
  assert.match(cfg, `linux /boot/$boot_slot/vmlinuz $slot_cmdline ${RESCUE_ARGS} mvos.slot=$boot_slot`);
});

test('grub.cfg on writable media boots boot_slot, or try_slot once (cleared before it boots)', () => {
  const cfg = grubConfig(menu);
  assert.match(cfg, 'load_env -f "$envfile" boot_tries boot_slot try_slot');
  const clear = cfg.indexOf('save_env -f "$envfile" try_slot');
  assert.ok(clear > 0 && clear < cfg.indexOf('menuentry'), 'the try is cleared before any entry boots');
  assert.match(cfg, 'source ($root)/boot/$slot/slot.cfg');
  assert.match(cfg, 'linux /boot/$slot/vmlinuz $slot_cmdline mvos.slot=$slot');
  assert.match(cfg, 'initrd /boot/$slot/initrd');
});

test('grub.cfg on read-only media has no counter and no slots, but still the rescue entry', () => {
  const cfg = grubConfig({ ...menu, counting: false });
  assert.not.match(cfg, /save_env|load_env|boot_tries|slot/);
  assert.match(cfg, /--id rescue/);
  assert.match(cfg, new RegExp(`linux /boot/vmlinuz console=ttyS0 ${RESCUE_ARGS}`));
});

test('the early config searches the tag and sets the prefix', () => {
  assert.is(earlyConfig('mvos/x-1'), 'search --no-floppy --set=root --file /mvos/x-1\nset prefix=($root)/boot/grub\n');
});

test('core.img and boot.img are patched like grub-bios-setup does', async () => {
  const core = await grubImage('i386-pc', 'mvos/t');
  assert.equal(core, await grubImage('i386-pc', 'mvos/t'));
  const placed = placeCore(core, 2048);
  assert.is(placed.readBigUInt64LE(500), 2049n);
  assert.is(placed.readUInt16LE(508), Math.ceil(core.length / 512) - 1);
  const mbr = mbrBootCode(2048);
  assert.is(mbr.length, 440);
  assert.is(mbr.readBigUInt64LE(0x5c), 2048n);
});

test.run();
