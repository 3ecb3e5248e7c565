import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testBundle, testManifest, testPayloads, testUpdateKey } from './bundle.test-support.ts';
import { BundleError, type BundleManifest, type BundleTrust, compareVersions, readBundle } from './bundle.ts';
import { parsePublicKey, publicKeyFile } from './minisign.ts';

const { privateKey } = testUpdateKey();
const payloads = testPayloads();
const manifest = (over: Partial<BundleManifest> = {}): BundleManifest => testManifest(payloads, over);
const bundle = (m = manifest(), key = privateKey, content = payloads): Promise<Buffer> => testBundle(m, key, content);

const trust = (over: Partial<BundleTrust> = {}): BundleTrust => ({
  publicKey: parsePublicKey(publicKeyFile(privateKey)),
  host: 'multiverse-host',
  version: '0.1.0',
  now: new Date('2026-12-06T12:00:00Z'),
  ...over,
});

// Reads a bundle, collecting what the sink got; the error (if any) and whether the sink saw a byte.
async function read(bytes: Buffer, t = trust()) {
  const got = new Map<string, Buffer>();
  try {
    const m = await readBundle(Readable.from([bytes]), t, async (p, content) => {
      const parts: Buffer[] = [];
      for await (const c of content) parts.push(c as Buffer);
      got.set(p.name, Buffer.concat(parts));
    });
    return { manifest: m, got };
  } catch (error) {
    assert.instance(error, BundleError, String(error));
    return { error: (error as Error).message, got };
  }
}

test('a bundle reads back: its manifest, then each payload byte for byte; the same inputs make the same bytes', async () => {
  const bytes = await bundle();
  const { manifest: m, got, error } = await read(bytes);
  assert.is(error, undefined);
  assert.equal(m, manifest());
  assert.ok(got.get('vmlinuz')!.equals(payloads.vmlinuz));
  assert.ok(got.get('initrd')!.equals(payloads.initrd));
  assert.ok((await bundle()).equals(bytes), 'deterministic');
});

test('refused before a byte of a payload: unsigned, another key, another host, older, too old to replace, expired', async () => {
  const cases: Array<[string, Buffer, BundleTrust, string]> = [
    [
      'wrong key',
      await bundle(manifest(), generateKeyPairSync('ed25519').privateKey),
      trust(),
      'not by the trusted key',
    ],
    ['another host', await bundle(manifest({ host: 'other-host' })), trust(), 'for host other-host'],
    ['older', await bundle(manifest({ version: '0.0.9' })), trust(), 'older than the running 0.1.0'],
    ['min version', await bundle(manifest({ minVersion: '0.1.5' })), trust(), 'replaces 0.1.5 or later'],
    ['expired', await bundle(), trust({ now: new Date('2027-03-01T00:00:00Z') }), 'expired'],
  ];
  for (const [what, bytes, t, words] of cases) {
    const { error, got } = await read(bytes, t);
    assert.match(error ?? '', words, what);
    assert.is(got.size, 0, `${what}: the sink got nothing`);
  }
  // Unsigned: the signature member taken out.
  const signed = await bundle();
  const unsigned = removeMember(signed, 'manifest.json.minisig');
  const { error, got } = await read(unsigned);
  assert.match(error ?? '', 'not signed');
  assert.is(got.size, 0);
});

test('one changed byte: in the manifest the signature fails; in a payload its hash does', async () => {
  const bytes = await bundle();
  const inManifest = Buffer.from(bytes);
  const at = inManifest.indexOf('"0.2.0"');
  inManifest[at + 3] = '3'.charCodeAt(0);
  assert.match((await read(inManifest)).error ?? '', 'does not match');
  const inPayload = Buffer.from(bytes);
  const offset = inPayload.indexOf(payloads.initrd.subarray(0, 32)) + 5000;
  inPayload[offset] = inPayload[offset]! ^ 1;
  assert.match((await read(inPayload)).error ?? '', "initrd's sha256 is");
});

test('refused: a payload the manifest does not name, one missing, a truncated bundle, garbage', async () => {
  const bytes = await bundle();
  assert.match((await read(bytes.subarray(0, bytes.length - 80_000))).error ?? '', /ends before|does not read/);
  assert.match((await read(randomBytes(4096))).error ?? '', /does not read|does not start/);
  assert.match((await read(Buffer.alloc(0))).error ?? '', /empty|does not read/);
  const swapped = await bundle(manifest({ payloads: [manifest().payloads[1]!, manifest().payloads[0]!] }));
  // Written in the manifest's order, read in it: fine. A manifest listing a payload twice is refused by shape.
  assert.is((await read(swapped)).error, undefined);
  const twice = manifest({ payloads: [manifest().payloads[0]!, manifest().payloads[0]!] });
  assert.match((await read(await bundle(twice))).error ?? '', 'vmlinuz and initrd, or uki.efi');
});

test('versions compare as releases: numbers, then a pre-release before its release', () => {
  assert.is(compareVersions('0.2.0', '0.1.9'), 1);
  assert.is(compareVersions('0.10.0', '0.9.0'), 1);
  assert.is(compareVersions('1.0.0-rc.1', '1.0.0'), -1);
  assert.is(compareVersions('1.0.0', '1.0.0'), 0);
  assert.throws(() => compareVersions('1.0', '1.0.0'), /not a version/);
});

// The bundle with one member taken out (tar: 512-byte header, content padded to 512).
function removeMember(bytes: Buffer, name: string): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 512 <= bytes.length && bytes[at] !== 0) {
    const member = bytes
      .subarray(at, at + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const size = Number.parseInt(
      bytes
        .subarray(at + 124, at + 136)
        .toString('utf8')
        .replace(/\0.*$/s, '')
        .trim(),
      8,
    );
    const length = 512 + Math.ceil(size / 512) * 512;
    if (member !== name) parts.push(bytes.subarray(at, at + length));
    at += length;
  }
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts);
}

test.run();
