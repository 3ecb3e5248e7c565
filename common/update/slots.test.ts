import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grubEnv, otherSlot, parseGrubEnv, parseSlotConfig, slotConfig } from './slots.ts';

test("a slot's slot.cfg: its version and command line, read back; quotes and $ are refused", () => {
  const cfg = slotConfig('0.2.0', 'console=ttyS0 panic=10');
  assert.is(cfg, 'set slot_version="0.2.0"\nset slot_cmdline="console=ttyS0 panic=10"\n');
  assert.equal(parseSlotConfig(cfg), { version: '0.2.0', cmdline: 'console=ttyS0 panic=10' });
  for (const bad of ['a"b', 'x=$y', 'a\\b', 'a\nb', 'a`b`'])
    assert.throws(() => slotConfig('1.0.0', bad), /cannot hold/);
  assert.is(parseSlotConfig('set slot_version="1"\n'), undefined);
  assert.is(parseSlotConfig(`${cfg}set x=1\n`), undefined);
});

test('grubenv is exactly 1024 bytes and reads back', () => {
  const env = grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: '' });
  assert.is(env.length, 1024);
  assert.ok(env.toString('latin1').startsWith('# GRUB Environment Block\nboot_tries=0\nboot_slot=a\ntry_slot=\n#'));
  assert.equal(parseGrubEnv(env), { boot_tries: '0', boot_slot: 'a', try_slot: '' });
  assert.throws(() => parseGrubEnv(env.subarray(0, 1000)), /not a GRUB environment block/);
  assert.throws(() => parseGrubEnv(Buffer.alloc(1024, 0x23)), /not a GRUB environment block/);
  assert.throws(() => grubEnv({ 'a b': '1' }), /cannot hold/);
  assert.throws(() => grubEnv({ x: 'y'.repeat(1100) }), /more than 1024/);
});

test('the other slot', () => {
  assert.is(otherSlot('a'), 'b');
  assert.is(otherSlot('b'), 'a');
});

test.run();
