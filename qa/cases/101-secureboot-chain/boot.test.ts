// Secure Boot with our own keys, through the real build: recipes/examples/host-secureboot.yaml's raw disk carries a
// db-signed UKI as EFI/BOOT/BOOTX64.EFI. OVMF's secure-boot code (from the pinned ovmf package) with a varstore our
// writer made (PK, KEK, db from `mvos keys init`) boots it to agent ready, and refuses the same disk with one byte of
// the UKI's initramfs changed, the disk built with another key set, and an unsigned UKI.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeEsp } from '../../../builder/firmware/esp.ts';
import { initKeys } from '../../../builder/firmware/keys.ts';
import { buildUki, peSections } from '../../../builder/firmware/uki.ts';
import { runTool } from '../../../common/exec.ts';
import { buildHostImage, type HostImage } from '../../lib/host-image.ts';
import { firmwareBoot, pinnedFirmware, secureBootVars } from './firmware-boot.ts';

const RECIPE = 'recipes/examples/host-secureboot.yaml';
const READY = /MVOS-AGENT-READY multiverse-host-secureboot/;
const REFUSED = /Access Denied|Security Violation/;
// Kept between runs (outside the repository), so a second run finds the signed image in the cache instead of
// re-signing.
const KEY_HOMES = { ours: join(tmpdir(), 'mvos-qa-101-keys'), other: join(tmpdir(), 'mvos-qa-101-other-keys') };
// The raw disk's ESP starts at LBA 4096 (builder/media/raw.ts).
const ESP_OFFSET = 4096 * 512;

let work = '';
let code = '';
let vars = '';
let image: HostImage;
let raw = '';

async function keyHome(home: string, prefix: string): Promise<string> {
  const dir = join(home, 'mvos', 'keys');
  if (!existsSync(join(dir, 'db.key'))) await initKeys(dir, { commonNamePrefix: prefix });
  return dir;
}

function build(home: string, output: string): { image: HostImage; raw: string; seconds: number } {
  const started = Date.now();
  const built = buildHostImage(RECIPE, { env: { XDG_CONFIG_HOME: home }, output });
  return {
    image: built,
    raw: join(built.dir, 'multiverse-host-secureboot.raw'),
    seconds: (Date.now() - started) / 1000,
  };
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mvos-qa-101-'));
  const firmware = await pinnedFirmware();
  code = firmware['ovmf-code-secboot'];
  const keys = await keyHome(KEY_HOMES.ours, 'Multiverse');
  await keyHome(KEY_HOMES.other, 'Stranger');
  vars = join(work, 'secureboot.vars.fd');
  await secureBootVars(firmware, keys, vars);
  const ours = build(KEY_HOMES.ours, join(work, 'images'));
  console.log(`  mvos build ${RECIPE}: ${ours.seconds.toFixed(0)} s`);
  image = ours.image;
  raw = ours.raw;
});

test.after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function bootDisk(name: string, disk: string) {
  return firmwareBoot({
    name,
    work,
    firmware: { type: 'ovmf-secureboot', code, vars },
    disks: [{ file: disk, addr: 5 }],
    markers: [READY, REFUSED],
    timeoutS: 400,
  });
}

function assertRefused(result: { matched: string; log: string }, what: string) {
  assert.is(result.matched, REFUSED.source, `${what}: OVMF refuses it on the console`);
  assert.not.match(result.log, READY, `${what}: the agent never comes up`);
}

// The UKI on a raw disk's ESP, copied out with mtools.
async function ukiOf(disk: string, name: string): Promise<Buffer> {
  const out = join(work, `${name}.efi`);
  await runTool('mcopy', ['-n', '-i', `${disk}@@${ESP_OFFSET}`, '::/EFI/BOOT/BOOTX64.EFI', out], {
    env: { MTOOLS_SKIP_CHECK: '1' },
  });
  return readFileSync(out);
}

test('the raw disk of a Secure Boot recipe boots its db-signed UKI to agent ready with Secure Boot on', async () => {
  const uki = await ukiOf(raw, 'built');
  assert.ok(
    (await peSections(join(work, 'built.efi'))).some((s) => s.name === '.initrd'),
    'BOOTX64.EFI is the UKI, not GRUB',
  );
  assert.ok(uki.includes(readFileSync(image.initrd).subarray(0, 4096)), 'it carries the built initramfs');
  const result = await bootDisk('101-secureboot-raw', raw);
  assert.is(result.matched, READY.source, 'agent ready');
  assert.match(result.log, /Secure boot enabled|UEFI Secure Boot is enabled/);
  console.log(`  signed raw disk: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (tcg)`);
});

test("the same disk with one byte of the UKI's initramfs changed: refused", async () => {
  const uki = await ukiOf(raw, 'original');
  const initrd = (await peSections(join(work, 'original.efi'))).find((s) => s.name === '.initrd')!;
  const disk = readFileSync(raw);
  // mtools writes a fresh FAT front to back, so the file lies in one piece; the read-back below proves the flip landed
  // in it.
  const at = disk.indexOf(uki.subarray(0, 65536), ESP_OFFSET);
  assert.ok(at > 0, 'the UKI lies contiguously on the ESP');
  const flip = at + initrd.fileOffset + Math.floor(initrd.size / 2);
  disk[flip] = disk.readUInt8(flip) ^ 0x01;
  const tampered = join(work, 'tampered.raw');
  writeFileSync(tampered, disk);
  const changed = await ukiOf(tampered, 'tampered');
  const differing = [...changed.keys()].filter((i) => changed[i] !== uki[i]);
  assert.equal(
    differing,
    [initrd.fileOffset + Math.floor(initrd.size / 2)],
    'exactly one byte of the initramfs section differs',
  );
  assertRefused(await bootDisk('101-secureboot-tampered', tampered), 'tampered initramfs');
});

test('the disk built with another key set: refused', async () => {
  const other = build(KEY_HOMES.other, join(work, 'other-images'));
  assert.not.ok(readFileSync(other.raw).equals(readFileSync(raw)), 'another key, another signature');
  assertRefused(await bootDisk('101-secureboot-other-key', other.raw), 'another key');
});

test('an unsigned UKI of the same kernel and initramfs: refused', async () => {
  const unsigned = join(work, 'unsigned.efi');
  await buildUki({ kernel: image.kernel, initrd: image.initrd, cmdline: image.cmdline }, unsigned);
  const esp = join(work, 'unsigned.esp.img');
  await makeEsp(esp, { '/EFI/BOOT/BOOTX64.EFI': unsigned });
  assertRefused(await bootDisk('101-secureboot-unsigned', esp), 'unsigned');
});

test.run();
