// `mvos update bundle`: one built host image → one signed update bundle (common/update/bundle.ts), written atomically
// beside the image. Its manifest comes from the image's own manifest: host, version, build id, the kernel command line
// and each payload's sha256 and size; the times from the build's SOURCE_DATE_EPOCH, so the same image, key and options
// make the same bytes.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { fsyncPath } from '../../common/fsync.ts';
import {
  BUNDLE_FORMAT,
  type BundleManifest,
  type BundlePayload,
  compareVersions,
  type PayloadName,
  writeBundle,
} from '../../common/update/bundle.ts';
import { loadUpdateKey } from './update-key.ts';

// What a bundle is made with besides the image.
export interface BundleOptions {
  keyDir: string;
  // Where the bundle goes (default: images/<host>/<host>-<version>.mvu).
  out?: string;
  // Days from the build's time until the bundle expires.
  expiresDays: number;
  // The oldest version the bundle may replace.
  minVersion: string;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// The payloads of an image: its signed UKI when it has one (a Secure Boot host boots only that), else kernel and initrd.
function payloadFiles(imageDir: string, name: string): Array<[PayloadName, string]> {
  const uki = join(imageDir, `${name}.efi`);
  if (existsSync(uki)) return [['uki.efi', uki]];
  return [
    ['vmlinuz', join(imageDir, 'vmlinuz')],
    ['initrd', join(imageDir, 'initrd')],
  ];
}

// Writes the bundle and returns its path and manifest.
export async function makeBundle(
  imageDir: string,
  options: BundleOptions,
): Promise<{ file: string; manifest: BundleManifest; bytes: number }> {
  const manifestFile = join(imageDir, 'manifest.json');
  const imageManifest = await readFile(manifestFile).catch(() => {
    throw new UserError(`${imageDir} holds no built image (no manifest.json)`, {
      hint: '`mvos build recipes/host.yaml` makes images/multiverse-host/',
    });
  });
  const image = JSON.parse(imageManifest.toString('utf8')) as {
    image: { name: string; version: string; kind: string; kernel?: { cmdline?: string } };
    build: { sourceDateEpoch: number };
  };
  if (image.image.kind !== 'host')
    throw new UserError(`${imageDir} is a ${image.image.kind} image; bundles update hosts`);
  try {
    compareVersions(options.minVersion, image.image.version);
  } catch {
    throw new UserError(`--min-version must be a version like 0.1.0 (got "${options.minVersion}")`);
  }
  if (compareVersions(options.minVersion, image.image.version) > 0)
    throw new UserError(`--min-version ${options.minVersion} is newer than the bundle's own ${image.image.version}`);
  if (!Number.isInteger(options.expiresDays) || options.expiresDays < 1 || options.expiresDays > 3650)
    throw new UserError('--expires-days must be a whole number of days from 1 to 3650');
  const key = await loadUpdateKey(options.keyDir);
  const payloads: BundlePayload[] = [];
  const files = new Map<string, string>();
  for (const [name, file] of payloadFiles(imageDir, image.image.name)) {
    const info = await stat(file).catch(() => undefined);
    if (!info) throw new UserError(`${imageDir} has no ${basename(file)}`, { hint: 'build the image again' });
    payloads.push({ name, sha256: await sha256File(file), size: info.size });
    files.set(name, file);
  }
  const created = new Date(image.build.sourceDateEpoch * 1000);
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    host: image.image.name,
    version: image.image.version,
    buildId: createHash('sha256').update(imageManifest).digest('hex'),
    minVersion: options.minVersion,
    created: created.toISOString().replace('.000Z', 'Z'),
    expires: new Date(created.getTime() + options.expiresDays * 86_400_000).toISOString().replace('.000Z', 'Z'),
    ...(image.image.kernel?.cmdline !== undefined && !files.has('uki.efi')
      ? { cmdline: image.image.kernel.cmdline }
      : {}),
    payloads,
  };
  const file = options.out ?? join(imageDir, `${image.image.name}-${image.image.version}.mvu`);
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const output = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
    await writeBundle(output, manifest, key, (p) => createReadStream(files.get(p.name)!));
    await fsyncPath(temp);
    await rename(temp, file);
    await fsyncPath(dirname(file));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { file, manifest, bytes: (await stat(file)).size };
}
