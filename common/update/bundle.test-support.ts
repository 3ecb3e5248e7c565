// Bundles for tests: a signing key, small random payloads and a manifest for them, written as writeBundle writes them.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { BUNDLE_FORMAT, type BundleManifest, type PayloadName, writeBundle } from './bundle.ts';
import { publicKeyFile } from './minisign.ts';

// The payloads a test bundle carries.
export type TestPayloads = Record<'vmlinuz' | 'initrd', Buffer>;

// A fresh update key and its minisign public key line (RW…).
export function testUpdateKey(): { privateKey: KeyObject; publicLine: string; publicFile: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicFile = publicKeyFile(privateKey);
  return { privateKey, publicFile, publicLine: publicFile.trim().split('\n').pop()! };
}

// Random payloads of the given sizes.
export function testPayloads(kernel = 3000, initrd = 70_000): TestPayloads {
  return { vmlinuz: randomBytes(kernel), initrd: randomBytes(initrd) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// A manifest for the payloads: multiverse-host 0.2.0, replacing 0.1.0 or later, valid from 2026-12-01 to 2027-03-01.
export function testManifest(payloads: TestPayloads, over: Partial<BundleManifest> = {}): BundleManifest {
  return {
    format: BUNDLE_FORMAT,
    host: 'multiverse-host',
    version: '0.2.0',
    buildId: 'a'.repeat(64),
    minVersion: '0.1.0',
    created: '2026-12-01T00:00:00Z',
    expires: '2027-03-01T00:00:00Z',
    cmdline: 'console=ttyS0',
    payloads: [
      { name: 'vmlinuz', sha256: sha(payloads.vmlinuz), size: payloads.vmlinuz.length },
      { name: 'initrd', sha256: sha(payloads.initrd), size: payloads.initrd.length },
    ],
    ...over,
  };
}

// A Secure Boot host's manifest: one signed UKI, no command line (the UKI carries it).
export function testUkiManifest(uki: Buffer, over: Partial<BundleManifest> = {}): BundleManifest {
  const { cmdline: _none, ...manifest } = testManifest(testPayloads(1, 1), over);
  return { ...manifest, payloads: [{ name: 'uki.efi', sha256: sha(uki), size: uki.length }] };
}

// The bundle's bytes: `manifest` signed with `key`, then `content` (which may differ from what the manifest says).
export async function testBundle(
  manifest: BundleManifest,
  key: KeyObject,
  content: Partial<Record<PayloadName, Buffer>>,
): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeBundle(out, manifest, key, (p) => Readable.from([content[p.name] ?? Buffer.alloc(0)]));
  return Buffer.concat(chunks);
}
