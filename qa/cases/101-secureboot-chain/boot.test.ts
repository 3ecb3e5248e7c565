// Secure Boot with our own keys: OVMF's secure-boot code with a varstore our writer made (PK, KEK, db from `mvos keys init`)
// boots the db-signed UKI of the host image to agent ready, and refuses it unsigned, signed with another key, or with one
// byte of its initramfs changed after signing.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeEsp } from '../../../builder/firmware/esp.ts';
import { initKeys, keyFiles, loadKeySet } from '../../../builder/firmware/keys.ts';
import { loadPreset, presetVariables } from '../../../builder/firmware/preset.ts';
import { buildUki, peSections, signImage } from '../../../builder/firmware/uki.ts';
import { readVarstore, writeVarstore } from '../../../builder/firmware/varstore.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { firmwareBoot, pinnedFirmware } from './firmware-boot.ts';

// The OVMF code of the pinned ovmf package (set in before).
let CODE = '';
const READY = /MVOS-AGENT-READY multiverse-host/;
const REFUSED = /Access Denied|Security Violation/;

let work = '';
let vars = '';
let keys = '';
let other = '';
let unsigned = '';

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mvos-qa-101-'));
  CODE = (await pinnedFirmware())['ovmf-code-secboot'];
  keys = join(work, 'keys');
  other = join(work, 'other-keys');
  await initKeys(keys);
  await initKeys(other, { commonNamePrefix: 'Stranger' });
  vars = join(work, 'secureboot.vars.fd');
  const variables = presetVariables(loadPreset('secureboot'), await loadKeySet(keys));
  await writeFile(vars, writeVarstore(variables));
  assert.equal(readVarstore(readFileSync(vars)).variables, variables, 'our varstore reads back identically');
  const image = buildHostImage();
  unsigned = join(work, 'host.efi');
  await buildUki({ kernel: image.kernel, initrd: image.initrd, cmdline: `${image.cmdline} mvos.state.wait=0` }, unsigned);
});

test.after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function bootEfi(name: string, efi: string) {
  const esp = join(work, `${name}.esp.img`);
  await makeEsp(esp, { '/EFI/BOOT/BOOTX64.EFI': efi });
  return firmwareBoot({ name, work, firmware: { type: 'ovmf-secureboot', code: CODE, vars }, disks: [{ file: esp, addr: 5 }], markers: [READY, REFUSED], timeoutS: 300 });
}

function assertRefused(result: { matched: string; log: string }, what: string) {
  assert.is(result.matched, REFUSED.source, `${what}: OVMF refuses it on the console`);
  assert.not.match(result.log, READY, `${what}: the agent never comes up`);
}

test('signed with our db key: boots to agent ready with Secure Boot on', async () => {
  const signed = join(work, 'signed.efi');
  await signImage(unsigned, signed, keyFiles(keys, 'db').key, keyFiles(keys, 'db').crt);
  const result = await bootEfi('101-secureboot-signed', signed);
  assert.is(result.matched, READY.source, 'agent ready');
  assert.match(result.log, /Secure boot enabled|UEFI Secure Boot is enabled/);
  console.log(`  signed UKI: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (tcg)`);
});

test('unsigned: refused', async () => {
  assertRefused(await bootEfi('101-secureboot-unsigned', unsigned), 'unsigned');
});

test('signed with another key: refused', async () => {
  const stranger = join(work, 'stranger.efi');
  await signImage(unsigned, stranger, keyFiles(other, 'db').key, keyFiles(other, 'db').crt);
  assertRefused(await bootEfi('101-secureboot-other-key', stranger), 'another key');
});

test('one initramfs byte changed after signing: refused', async () => {
  const signed = join(work, 'signed.efi');
  const initrd = (await peSections(signed)).find((s) => s.name === '.initrd')!;
  const bytes = readFileSync(signed);
  bytes[initrd.fileOffset + Math.floor(initrd.size / 2)] ^= 0x01;
  const tampered = join(work, 'tampered.efi');
  writeFileSync(tampered, bytes);
  assertRefused(await bootEfi('101-secureboot-tampered', tampered), 'tampered initramfs');
});

test.run();
