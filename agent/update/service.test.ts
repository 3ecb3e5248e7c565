// The update service on a folder standing in for the ESP: a bundle is checked whole before the ESP changes, written to
// the slot that did not boot and read back, then named for one try; the next boot's gate keeps it, a try that did not
// come back is recorded as failed, and every refused bundle leaves the ESP and the records as they were.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GUIDS } from '../../common/efi/guid.ts';
import {
  testBundle,
  testManifest,
  testPayloads,
  testUkiManifest,
  testUpdateKey,
} from '../../common/update/bundle.test-support.ts';
import { grubEnv, parseGrubEnv, slotConfig } from '../../common/update/slots.ts';
import { ControlError } from '../controls.ts';
import { EfiVars, UefiBoot } from './efi-boot.ts';
import { makeTestEsp } from './esp.test-support.ts';
import { folderEsp } from './esp.ts';
import { UpdateService, type UpdateServiceOptions } from './service.ts';

const key = testUpdateKey();
const v2 = testPayloads();
let root: string;
let esp: string;
let stateDir: string;
let runDir: string;

function espTree(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, name.name);
      hash.update(path);
      if (name.isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  walk(esp);
  return hash.digest('hex');
}

function env(): Record<string, string> {
  return parseGrubEnv(readFileSync(join(esp, 'boot/grub/grubenv')));
}

test.before.each(() => {
  root = mkdtempSync(join(tmpdir(), 'mvos-update-'));
  esp = join(root, 'esp');
  stateDir = join(root, 'state');
  runDir = join(root, 'run');
  for (const dir of [stateDir, runDir]) mkdirSync(dir, { recursive: true });
  makeTestEsp(esp);
});

test.after.each(() => rmSync(root, { recursive: true, force: true }));

function open(over: Partial<UpdateServiceOptions> = {}): Promise<UpdateService> {
  return UpdateService.open({
    config: { publicKey: key.publicLine, deadline: 300, require: [] },
    host: 'multiverse-host',
    version: '0.1.0',
    stateDir,
    runDir,
    esp: folderEsp(esp),
    booted: 'a',
    log: () => undefined,
    ...over,
  });
}

async function apply(service: UpdateService, bytes: Buffer): Promise<unknown> {
  return service.apply(Readable.from([bytes]), 'alice', false).catch((error: Error) => error);
}

test('a fresh host: slot a good and booted, slot b empty', async () => {
  const view = (await open()).view();
  assert.is(view.enabled, true);
  assert.equal(
    view.slots.map((s) => [s.slot, s.version, s.state, s.booted, s.bootSlot]),
    [
      ['a', '0.1.0', 'good', true, true],
      ['b', undefined, 'empty', false, false],
    ],
  );
  assert.equal(
    view.events.map((e) => e.event),
    ['installed'],
  );
});

test('a bundle is written to slot b, read back, and named for one try; init is told first', async () => {
  const service = await open();
  const result = await service.apply(
    Readable.from([await testBundle(testManifest(v2), key.privateKey, v2)]),
    'alice',
    false,
  );
  assert.equal(result, { slot: 'b', version: '0.2.0', bytes: v2.vmlinuz.length + v2.initrd.length, rebooting: false });
  assert.equal(readFileSync(join(esp, 'boot/b/vmlinuz')), v2.vmlinuz);
  assert.equal(readFileSync(join(esp, 'boot/b/initrd')), v2.initrd);
  assert.is(readFileSync(join(esp, 'boot/b/slot.cfg'), 'utf8'), slotConfig('0.2.0', 'console=ttyS0'));
  assert.equal(env(), { boot_tries: '0', boot_slot: 'a', try_slot: 'b' });
  assert.is(readFileSync(join(stateDir, 'update/trial'), 'utf8'), 'b 0.2.0\n');
  assert.not.ok(existsSync(join(stateDir, 'update/incoming')), 'nothing staged is left');
  const b = service.view().slots[1]!;
  assert.equal([b.version, b.state, b.trying], ['0.2.0', 'pending', true]);
  assert.equal(
    service.view().events.map((e) => [e.event, e.by]),
    [
      ['installed', undefined],
      ['writing', 'alice'],
      ['applied', 'alice'],
    ],
  );
});

test('refused before anything is written: unsigned, wrong key, a changed byte, another host, older, expired', async () => {
  const other = testUpdateKey();
  const manifest = testManifest(v2);
  const signed = await testBundle(manifest, key.privateKey, v2);
  const changed = { ...v2, initrd: Buffer.from(v2.initrd) };
  changed.initrd[1234] = changed.initrd[1234]! ^ 1;
  const cases: Array<[string, Promise<Buffer> | Buffer, RegExp]> = [
    ['unsigned', unsigned(signed), /not signed/],
    ['wrong key', testBundle(manifest, other.privateKey, v2), /signature is refused/],
    ['changed byte', testBundle(manifest, key.privateKey, changed), /initrd's sha256/],
    ['other host', testBundle(testManifest(v2, { host: 'other-host' }), key.privateKey, v2), /for host other-host/],
    ['older', testBundle(testManifest(v2, { version: '0.0.9', minVersion: '0.0.1' }), key.privateKey, v2), /older/],
    [
      'expired',
      testBundle(
        testManifest(v2, { expires: '2026-01-01T00:00:00Z', created: '2025-12-01T00:00:00Z' }),
        key.privateKey,
        v2,
      ),
      /expired/,
    ],
  ];
  const service = await open();
  const before = espTree();
  const records = readFileSync(join(stateDir, 'update/slots.json'), 'utf8');
  for (const [what, bytes, reason] of cases) {
    const error = await apply(service, await bytes);
    assert.instance(error, ControlError, what);
    assert.is((error as ControlError).kind, 'invalid', what);
    assert.match((error as Error).message, reason, what);
    assert.is(espTree(), before, `${what}: the ESP changed`);
    assert.is(readFileSync(join(stateDir, 'update/slots.json'), 'utf8'), records, `${what}: the records changed`);
    assert.not.ok(existsSync(join(stateDir, 'update/trial')), what);
    assert.not.ok(existsSync(join(stateDir, 'update/incoming')), `${what}: staged files left`);
  }
});

test('one apply at a time; none while a version is on trial; none without a config, slots or an ESP', async () => {
  const service = await open();
  const bytes = await testBundle(testManifest(v2), key.privateKey, v2);
  const slow = new Readable({ read() {} });
  const first = service.apply(slow, 'alice', false);
  await new Promise((r) => setTimeout(r, 20));
  const second = await apply(service, bytes);
  assert.match((second as Error).message, /in progress already/);
  slow.push(bytes);
  slow.push(null);
  await first;
  const trial = await open({ booted: 'b', version: '0.2.0' });
  assert.match(((await apply(trial, bytes)) as Error).message, /on trial in slot b/);
  for (const [over, why] of [
    [{ config: undefined }, /no update section/],
    [{ booted: undefined }, /did not boot from a disk with A\/B slots/],
    [{ esp: undefined }, /did not boot from a disk with A\/B slots/],
  ] as Array<[Partial<UpdateServiceOptions>, RegExp]>) {
    const s = await open(over);
    assert.is(s.view().enabled, false);
    assert.match(((await apply(s, bytes)) as Error).message, why);
  }
});

async function applied(): Promise<void> {
  const service = await open();
  await service.apply(Readable.from([await testBundle(testManifest(v2), key.privateKey, v2)]), 'alice', false);
  // GRUB clears the try before it boots slot b.
  const e = env();
  writeFileSync(join(esp, 'boot/grub/grubenv'), grubEnv({ ...e, try_slot: '' }));
}

test('the boot into slot b: the gate waits for what is unmet, then makes b the boot slot', async () => {
  await applied();
  let unmet = ['controller not ready (starting)'];
  const service = await open({ booted: 'b', version: '0.2.0' });
  service.startGate(() => unmet);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(service.view().gate?.unmet, unmet);
  assert.is(readFileSync(join(runDir, 'update-gate'), 'utf8'), 'controller not ready (starting)\n');
  assert.is(env().boot_slot, 'a', 'not kept while unhealthy');
  unmet = [];
  for (let i = 0; i < 40 && !service.view().gate?.passed; i++) await new Promise((r) => setTimeout(r, 100));
  service.close();
  assert.is(service.view().gate?.passed, true);
  assert.equal(env(), { boot_tries: '0', boot_slot: 'b', try_slot: '' });
  assert.ok(existsSync(join(runDir, 'update-good')));
  assert.not.ok(existsSync(join(stateDir, 'update/trial')));
  assert.equal(
    service.view().slots.map((s) => [s.slot, s.version, s.state, s.bootSlot]),
    [
      ['a', '0.1.0', 'good', false],
      ['b', '0.2.0', 'good', true],
    ],
  );
});

test('a try that did not come back is recorded as failed: init’s reason, or whether it reached init at all', async () => {
  for (const [written, started, reason] of [
    [undefined, true, /did not come up: the host booted slot a again/],
    [undefined, false, /it never reached init and the host booted slot a again: GRUB or the kernel failed/],
    ['the agent never got ready within 300 s', true, /the agent never got ready within 300 s/],
  ] as const) {
    rmSync(join(stateDir, 'update'), { recursive: true, force: true });
    await applied();
    if (written) writeFileSync(join(stateDir, 'update/trial-failed'), `${written}\n`);
    if (started) writeFileSync(join(stateDir, 'update/trial-started'), 'b 0.2.0\n');
    const back = await open();
    const b = back.view().slots[1]!;
    assert.is(b.state, 'bad');
    assert.match(b.reason!, reason);
    assert.not.ok(existsSync(join(stateDir, 'update/trial-started')));
    assert.not.ok(existsSync(join(stateDir, 'update/trial')));
    assert.equal(back.view().events.at(-1)?.event, 'failed');
    const rollback = await back.rollback('alice', false).catch((e: Error) => e);
    assert.match((rollback as Error).message, /slot b holds 0.2.0, which is bad/);
  }
});

test('rollback on request: the other good slot becomes the boot slot', async () => {
  await applied();
  const service = await open({ booted: 'b', version: '0.2.0' });
  service.startGate(() => []);
  for (let i = 0; i < 40 && !service.view().gate?.passed; i++) await new Promise((r) => setTimeout(r, 50));
  const view = await service.rollback('bob', false);
  assert.equal(env(), { boot_tries: '0', boot_slot: 'a', try_slot: '' });
  assert.is(view.events.at(-1)?.event, 'rolled back');
  assert.is(view.events.at(-1)?.by, 'bob');
  const refused = await service.rollback('bob', true).catch((e: Error) => e);
  assert.match((refused as Error).message, /cannot reboot the machine/);
});

// A bundle with its signature member cut out (the manifest, then the payloads).
function unsigned(bundle: Buffer): Buffer {
  const size = (offset: number) => Number.parseInt(bundle.subarray(offset + 124, offset + 136).toString(), 8);
  const manifestEnd = 512 + Math.ceil(size(0) / 512) * 512;
  const signatureEnd = manifestEnd + 512 + Math.ceil(size(manifestEnd) / 512) * 512;
  return Buffer.concat([bundle.subarray(0, manifestEnd), bundle.subarray(signatureEnd)]);
}

// A Secure Boot host: slot a's UKI at the removable-media path, the firmware's variables in a folder.
async function openUki(version: string): Promise<UpdateService> {
  const vars = new EfiVars(join(root, 'efivars'));
  mkdirSync(vars.dir, { recursive: true });
  mkdirSync(join(esp, 'EFI/BOOT'), { recursive: true });
  if (!existsSync(join(esp, 'EFI/BOOT/BOOTX64.EFI'))) writeFileSync(join(esp, 'EFI/BOOT/BOOTX64.EFI'), 'uki 1');
  return open({
    booted: undefined,
    version,
    layout: 'uki',
    selector: new UefiBoot(vars, 'multiverse-host', async () => ({
      number: 2,
      start: 4096,
      size: 1 << 18,
      guid: GUID,
    })),
  });
}
const GUID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

test('a Secure Boot host: a signed UKI goes to slot b and BootNext tries it once; the gate keeps it in BootOrder', async () => {
  const uki = Buffer.from('a signed UKI, version 2');
  const service = await openUki('0.1.0');
  assert.is(service.view().booted, 'a', 'the slot holding the running version');
  const grub = await apply(service, await testBundle(testManifest(v2), key.privateKey, v2));
  assert.match((grub as Error).message, /carries a kernel and initrd; this Secure Boot host boots only a signed UKI/);
  const result = await service.apply(
    Readable.from([await testBundle(testUkiManifest(uki), key.privateKey, { 'uki.efi': uki })]),
    'alice',
    false,
  );
  assert.equal(result, { slot: 'b', version: '0.2.0', bytes: uki.length, rebooting: false });
  assert.equal(readFileSync(join(esp, 'boot/b/uki.efi')), uki);
  assert.is(readFileSync(join(esp, 'boot/b/slot.cfg'), 'utf8'), slotConfig('0.2.0', ''));
  assert.is(readFileSync(join(esp, 'EFI/BOOT/BOOTX64.EFI'), 'utf8'), 'uki 1', 'the running slot is untouched');
  const vars = new EfiVars(join(root, 'efivars'));
  assert.is(await vars.bootNext(), 1);
  assert.equal(await vars.bootOrder(), [0, 1]);
  assert.equal(
    service.view().slots.map((s) => [s.slot, s.state, s.bootSlot, s.trying]),
    [
      ['a', 'good', true, false],
      ['b', 'pending', false, true],
    ],
  );
  // The firmware deletes BootNext as it boots slot b.
  rmSync(join(vars.dir, `BootNext-${GUIDS.globalVariable}`));
  writeFileSync(join(stateDir, 'update/trial-started'), 'b 0.2.0\n');
  const tried = await openUki('0.2.0');
  assert.is(tried.view().booted, 'b');
  tried.startGate(() => []);
  for (let i = 0; i < 40 && !tried.view().gate?.passed; i++) await new Promise((r) => setTimeout(r, 50));
  tried.close();
  assert.equal(await vars.bootOrder(), [1, 0]);
  assert.equal(tried.view().slots[1]?.state, 'good');
});

test('a Secure Boot host: a UKI the firmware refused is recorded bad, the firmware named as the likely reason', async () => {
  const uki = Buffer.from('signed with a key outside db');
  const service = await openUki('0.1.0');
  await service.apply(
    Readable.from([await testBundle(testUkiManifest(uki), key.privateKey, { 'uki.efi': uki })]),
    'alice',
    false,
  );
  const back = await openUki('0.1.0');
  const b = back.view().slots[1]!;
  assert.equal([b.version, b.state, back.view().booted], ['0.2.0', 'bad', 'a']);
  assert.match(b.reason!, /the firmware never started it and booted slot a again: it refused the UKI \(Secure Boot/);
});

test.run();
