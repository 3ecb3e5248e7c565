// An update bundle: one tar file holding, in this order, the manifest (what it is for and the sha256 and size of each
// payload), the manifest's minisign signature, then the payloads. A reader checks the signature, the host, the
// versions and the expiry from the first two members alone, before it takes a byte of a payload, and each payload's
// size and hash as it streams past.

import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { type MinisignPublicKey, SignatureError, signMinisign, verifyMinisign } from './minisign.ts';

// The manifest's format name; a reader refuses any other.
export const BUNDLE_FORMAT = 'mvos-update/1';
// What a bundle may carry: a kernel and initrd, or a signed UKI (Secure Boot hosts).
export const PAYLOAD_NAMES = ['vmlinuz', 'initrd', 'uki.efi'] as const;
export type PayloadName = (typeof PAYLOAD_NAMES)[number];
const MAX_MANIFEST = 64 * 1024;
const MAX_SIGNATURE = 4096;
// The largest payload a host takes (the slot on the ESP is sized for the image, far below this).
export const MAX_PAYLOAD_BYTES = 1024 * 1024 * 1024;
// The largest bundle a host takes in one upload.
export const MAX_BUNDLE_BYTES = 2 * MAX_PAYLOAD_BYTES;

// One payload as the manifest names it.
export interface BundlePayload {
  name: PayloadName;
  sha256: string;
  size: number;
}

// What a bundle is for, signed.
export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  host: string;
  version: string;
  // The build it comes from (sha256 of the image's manifest.json).
  buildId: string;
  // The oldest version this bundle may replace.
  minVersion: string;
  created: string;
  expires: string;
  // The kernel command line the slot boots with (kernel + initrd bundles).
  cmdline?: string;
  payloads: BundlePayload[];
}

// What a host trusts and is: the key, its own name and version, the time.
export interface BundleTrust {
  publicKey: MinisignPublicKey;
  host: string;
  version: string;
  now: Date;
}

// Why a bundle was refused, before anything of it was used.
export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

const VERSION = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]{1,64}))?$/;

// Compares two versions (MAJOR.MINOR.PATCH with an optional -pre-release, which sorts before its release); throws on
// anything else.
export function compareVersions(a: string, b: string): number {
  const [pa, pb] = [VERSION.exec(a), VERSION.exec(b)];
  if (!pa || !pb) throw new BundleError(`not a version: ${pa ? b : a}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  if (pa[4] === pb[4]) return 0;
  if (pa[4] === undefined) return 1;
  if (pb[4] === undefined) return -1;
  return pa[4] < pb[4] ? -1 : 1;
}

// The one-line trusted comment of a bundle's signature (what `minisign -V` shows).
export function trustedComment(manifest: BundleManifest): string {
  return `mvos update ${manifest.host} ${manifest.version} build ${manifest.buildId.slice(0, 16)}`;
}

function text(value: unknown, what: string, pattern: RegExp): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw new BundleError(`the manifest's ${what} is not valid`);
  return value;
}

function date(value: unknown, what: string): Date {
  const when = new Date(text(value, what, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/));
  if (Number.isNaN(when.getTime())) throw new BundleError(`the manifest's ${what} is not a date`);
  return when;
}

// Checks a manifest's shape (it was signed, but by whom is checked apart) and turns it into a BundleManifest.
export function checkManifest(value: unknown): BundleManifest {
  const m = value as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BundleError('the manifest is not an object');
  if (m.format !== BUNDLE_FORMAT) throw new BundleError(`the manifest's format is not ${BUNDLE_FORMAT}`);
  const payloads = m.payloads;
  if (!Array.isArray(payloads) || payloads.length === 0 || payloads.length > PAYLOAD_NAMES.length)
    throw new BundleError("the manifest's payloads are not a list of 1 to 3");
  const checked = payloads.map((p: Record<string, unknown>, i) => {
    const name = p?.name as PayloadName;
    if (!PAYLOAD_NAMES.includes(name)) throw new BundleError(`payload ${i} has no known name`);
    const size = p.size;
    if (!Number.isSafeInteger(size) || (size as number) < 0 || (size as number) > MAX_PAYLOAD_BYTES)
      throw new BundleError(`payload ${name} has no valid size`);
    return { name, sha256: text(p.sha256, `${name} sha256`, /^[0-9a-f]{64}$/), size: size as number };
  });
  const names = checked.map((p) => p.name).sort();
  const kinds = [['initrd', 'vmlinuz'], ['uki.efi']];
  if (!kinds.some((k) => k.join() === names.join()))
    throw new BundleError('a bundle carries vmlinuz and initrd, or uki.efi');
  for (const field of ['version', 'minVersion'] as const) text(m[field], field, VERSION);
  date(m.created, 'created');
  date(m.expires, 'expires');
  return {
    format: BUNDLE_FORMAT,
    host: text(m.host, 'host', /^[a-z][a-z0-9-]{0,62}$/),
    version: m.version as string,
    buildId: text(m.buildId, 'buildId', /^[0-9a-f]{64}$/),
    minVersion: m.minVersion as string,
    created: m.created as string,
    expires: m.expires as string,
    ...(m.cmdline !== undefined ? { cmdline: text(m.cmdline, 'cmdline', /^[\x20-\x7e]{0,4096}$/) } : {}),
    payloads: checked,
  };
}

// A trust that takes the bundle's own host name (`mvos update verify` without --host).
export const ANY_HOST = '*';

// Whether this host may take the bundle: its host, a version not older than the running one, one the bundle may
// replace, and not expired. Throws BundleError with the reason.
export function checkApplicable(manifest: BundleManifest, trust: BundleTrust): void {
  if (trust.host !== ANY_HOST && manifest.host !== trust.host)
    throw new BundleError(`the bundle is for host ${manifest.host}, this is ${trust.host}`);
  if (compareVersions(manifest.version, trust.version) < 0)
    throw new BundleError(`the bundle's version ${manifest.version} is older than the running ${trust.version}`);
  if (compareVersions(trust.version, manifest.minVersion) < 0)
    throw new BundleError(`the bundle replaces ${manifest.minVersion} or later; this host runs ${trust.version}`);
  if (trust.now.getTime() >= new Date(manifest.expires).getTime())
    throw new BundleError(`the bundle expired at ${manifest.expires}`);
}

async function readAll(entry: AsyncIterable<unknown>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry) {
    size += (chunk as Buffer).length;
    if (size > max) throw new BundleError(`the bundle's ${what} is larger than ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

// Reads a bundle from `input`: checks the signature and whether it applies, then hands each payload to `sink` as a
// stream, in manifest order, hashing it on the way; after the sink took a payload, its hash and size must match or
// the read fails. The sink must keep what it got provisional until the whole read resolved.
export async function readBundle(
  input: Readable,
  trust: BundleTrust,
  sink: (payload: BundlePayload, content: Readable) => Promise<void>,
  onManifest?: (manifest: BundleManifest) => Promise<void> | void,
): Promise<BundleManifest> {
  const extract = tar.extract();
  const reading = pipeline(input, extract);
  reading.catch(() => undefined);
  let manifestBytes: Buffer | undefined;
  let manifest: BundleManifest | undefined;
  let next = 0;
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header;
      if (type !== 'file') throw new BundleError(`the bundle holds ${name}, which is no file`);
      if (manifestBytes === undefined) {
        if (name !== 'manifest.json') throw new BundleError('the bundle does not start with manifest.json');
        manifestBytes = await readAll(entry, MAX_MANIFEST, 'manifest');
        continue;
      }
      if (!manifest) {
        if (name !== 'manifest.json.minisig')
          throw new BundleError('the bundle is not signed (no manifest.json.minisig)');
        const signature = (await readAll(entry, MAX_SIGNATURE, 'signature')).toString('utf8');
        try {
          verifyMinisign(trust.publicKey, signature, manifestBytes);
        } catch (error) {
          if (error instanceof SignatureError) throw new BundleError(`the signature is refused: ${error.message}`);
          throw error;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(manifestBytes.toString('utf8'));
        } catch {
          throw new BundleError('the manifest is not JSON');
        }
        manifest = checkManifest(parsed);
        checkApplicable(manifest, trust);
        await onManifest?.(manifest);
        continue;
      }
      const expected = manifest.payloads[next];
      if (!expected) throw new BundleError(`the bundle holds ${name} beyond its manifest's payloads`);
      if (name !== expected.name)
        throw new BundleError(`the bundle holds ${name} where the manifest names ${expected.name}`);
      if (size !== expected.size) throw new BundleError(`${name} is ${size} bytes, the manifest says ${expected.size}`);
      const hash = createHash('sha256');
      const hashed = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      const passing = pipeline(entry, hashed);
      passing.catch(() => undefined);
      await sink(expected, hashed);
      // Whatever the sink left unread still counts.
      for await (const _ of hashed) void _;
      await passing;
      const got = hash.digest('hex');
      if (got !== expected.sha256)
        throw new BundleError(`${name}'s sha256 is ${got}, the manifest says ${expected.sha256}`);
      next++;
      // Whatever follows the last payload (a disk's zeros after the bundle on it) is never read.
      if (next === manifest.payloads.length) break;
    }
    if (next === manifest?.payloads.length) input.destroy();
    else await reading;
  } catch (error) {
    input.destroy();
    if (error instanceof BundleError) throw error;
    throw new BundleError(`the bundle does not read: ${(error as Error).message}`);
  }
  if (!manifest)
    throw new BundleError(
      manifestBytes ? 'the bundle is not signed (no manifest.json.minisig)' : 'the bundle is empty',
    );
  if (next !== manifest.payloads.length)
    throw new BundleError(`the bundle ends before ${manifest.payloads[next]!.name}`);
  return manifest;
}

// The manifest a bundle names, unverified (for choosing among bundles on a medium; readBundle checks the one chosen).
export async function peekManifest(input: Readable): Promise<BundleManifest | undefined> {
  const extract = tar.extract();
  const reading = pipeline(input, extract);
  reading.catch(() => undefined);
  try {
    for await (const entry of extract) {
      if (entry.header.name !== 'manifest.json' || entry.header.type !== 'file') return undefined;
      return checkManifest(JSON.parse((await readAll(entry, MAX_MANIFEST, 'manifest')).toString('utf8')));
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    input.destroy();
  }
}

// Writes a bundle to `output`: the manifest, its signature with `privateKey`, then each payload from `open` in manifest
// order. Headers carry no time or owner, so the same inputs make the same bytes.
export async function writeBundle(
  output: Writable,
  manifest: BundleManifest,
  privateKey: KeyObject,
  open: (payload: BundlePayload) => Readable,
): Promise<void> {
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const signature = Buffer.from(signMinisign(privateKey, manifestBytes, trustedComment(manifest)));
  const pack = tar.pack();
  const writing = pipeline(pack, output);
  const header = (name: string, size: number) => ({
    name,
    size,
    mode: 0o644,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    type: 'file' as const,
  });
  pack.entry(header('manifest.json', manifestBytes.length), manifestBytes);
  pack.entry(header('manifest.json.minisig', signature.length), signature);
  for (const payload of manifest.payloads) {
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry(header(payload.name, payload.size), (error) => (error ? reject(error) : resolve()));
      open(payload).pipe(entry);
    });
  }
  pack.finalize();
  await writing;
}
