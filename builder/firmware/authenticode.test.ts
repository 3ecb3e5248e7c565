import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { certificateTable, setPeChecksum, signingTime } from './authenticode.ts';
import { initKeys, keyFiles } from './keys.ts';
import { DEFAULT_STUB, signImage, verifyImage } from './uki.ts';

const EPOCH = 1795651200;

test('signing twice a second apart: sbsign alone differs (its clock), with signingTime pinned the bytes repeat and still verify', async () => {
  if (!existsSync(DEFAULT_STUB)) return console.log('  skipped: systemd-boot-efi is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'mvos-authenticode-'));
  try {
    const keys = join(dir, 'keys');
    await initKeys(keys);
    const db = keyFiles(keys, 'db');
    const image = join(dir, 'stub.efi');
    await copyFile(DEFAULT_STUB, image);
    const sign = async (name: string, options: { signingTime?: number } = {}) => {
      await signImage(image, join(dir, name), db.key, db.crt, options);
      return readFileSync(join(dir, name));
    };
    const a = await sign('a.efi');
    await new Promise((r) => setTimeout(r, 1100));
    const b = await sign('b.efi');
    assert.not.ok(a.equals(b), 'sbsign on its own puts the clock into the signature');
    const c = await sign('c.efi', { signingTime: EPOCH });
    await new Promise((r) => setTimeout(r, 1100));
    const d = await sign('d.efi', { signingTime: EPOCH });
    assert.ok(c.equals(d), 'pinned signing time: the same bytes');
    assert.is(signingTime(c), EPOCH);
    assert.ok(Math.abs(signingTime(a)! - Date.now() / 1000) < 120, 'sbsign stamps the current time');
    assert.ok(await verifyImage(join(dir, 'c.efi'), db.crt), 'sbverify accepts the re-signed attributes');
    const listed = await runTool('sbverify', ['--list', join(dir, 'c.efi')]);
    assert.match(listed.stdout, /Multiverse db/);
    const table = certificateTable(c);
    assert.is(table.offset + table.size, c.length, 'the signature stays at the end of the file');
    assert.ok(setPeChecksum(Buffer.from(c)).equals(c), 'the PE checksum covers the new signature');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a tampered signature (one attribute byte) no longer verifies', async () => {
  if (!existsSync(DEFAULT_STUB)) return;
  const dir = await mkdtemp(join(tmpdir(), 'mvos-authenticode-'));
  try {
    const keys = join(dir, 'keys');
    await initKeys(keys);
    const db = keyFiles(keys, 'db');
    await signImage(DEFAULT_STUB, join(dir, 's.efi'), db.key, db.crt, { signingTime: EPOCH });
    const bytes = readFileSync(join(dir, 's.efi'));
    // The signing time's last digit (2026-11-26 00:00:00 as a UTCTime): inside the signed attributes.
    const at = bytes.indexOf(Buffer.from('261126000000Z', 'latin1'), certificateTable(bytes).offset) + 11;
    assert.ok(at > 11, 'the pinned signing time is in the signature');
    const tampered = Buffer.from(bytes);
    tampered[at] = tampered[at] === 0x30 ? 0x31 : 0x30;
    writeFileSync(join(dir, 't.efi'), tampered);
    assert.not.ok(await verifyImage(join(dir, 't.efi'), db.crt));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
