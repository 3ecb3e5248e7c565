import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initKeys, keyFiles } from './keys.ts';
import { buildUki, DEFAULT_STUB, layoutSections, peSections, signImage, verifyImage } from './uki.ts';

test('sections go after the stub, on 64 KiB boundaries, without overlapping', () => {
  const s = layoutSections(0x19134, [
    { name: '.osrel', file: 'a', size: 10 },
    { name: '.linux', file: 'b', size: 0x10001 },
    { name: '.initrd', file: 'c', size: 5 },
  ]);
  assert.equal(
    s.map((x) => x.vma),
    [0x20000, 0x30000, 0x50000],
  );
});

test('a UKI is reproducible unsigned, verifies signed with db, and a changed byte or another key fails', async () => {
  if (!existsSync(DEFAULT_STUB)) return console.log('  skipped: systemd-boot-efi is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'mvos-uki-test-'));
  try {
    const keys = join(dir, 'keys');
    const other = join(dir, 'other');
    await initKeys(keys);
    await initKeys(other, { commonNamePrefix: 'Other' });
    writeFileSync(join(dir, 'vmlinuz'), Buffer.alloc(70000, 1));
    writeFileSync(join(dir, 'initrd'), Buffer.alloc(3000, 2));
    const parts = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd'), cmdline: 'console=ttyS0' };
    await buildUki(parts, join(dir, 'a.efi'));
    await new Promise((r) => setTimeout(r, 1100));
    await buildUki(parts, join(dir, 'b.efi'));
    assert.ok(readFileSync(join(dir, 'a.efi')).equals(readFileSync(join(dir, 'b.efi'))), 'same parts, same bytes');
    const names = (await peSections(join(dir, 'a.efi'))).map((s) => s.name);
    assert.ok(['.osrel', '.cmdline', '.linux', '.initrd'].every((n) => names.includes(n)));
    const db = keyFiles(keys, 'db');
    await signImage(join(dir, 'a.efi'), join(dir, 'signed.efi'), db.key, db.crt);
    assert.ok(await verifyImage(join(dir, 'signed.efi'), db.crt));
    assert.not.ok(await verifyImage(join(dir, 'a.efi'), db.crt), 'unsigned');
    const tampered = readFileSync(join(dir, 'signed.efi'));
    const at = tampered.indexOf(Buffer.alloc(64, 2));
    tampered[at + 10] = tampered.readUInt8(at + 10) ^ 0xff;
    writeFileSync(join(dir, 'tampered.efi'), tampered);
    assert.not.ok(await verifyImage(join(dir, 'tampered.efi'), db.crt), 'one initrd byte changed');
    const odb = keyFiles(other, 'db');
    await signImage(join(dir, 'a.efi'), join(dir, 'other.efi'), odb.key, odb.crt);
    assert.not.ok(await verifyImage(join(dir, 'other.efi'), db.crt), 'signed with another key');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
