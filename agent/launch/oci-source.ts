// Finds an image's config and layers in an OCI image layout (index.json, blobs/sha256/…) or a `docker save` tarball
// (manifest.json + layer tars), and checks every blob against its digest before anything trusts it.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, stat, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { UserError } from '../../builder/errors.ts';
import { safeSegments } from './oci-paths.ts';

// One layer to apply: its file, and the digest of its uncompressed tar that the config promises (rootfs.diff_ids).
export interface OciLayer {
  file: string;
  diffId: string;
}

// An image ready to unpack: its identity (the manifest's digest), its verified config, its layers bottom first.
export interface OciImage {
  digest: string;
  config: Record<string, any>;
  layers: OciLayer[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

// sha256 of a file, streamed.
async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

function bad(message: string): UserError {
  return new UserError(message, { hint: 'the image is damaged or not an OCI layout / `docker save` archive' });
}

async function readJson(file: string, what: string): Promise<any> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new UserError(`cannot read ${what} (${file}): ${(cause as Error).message}`, { cause, hint: 'the image is damaged or not an OCI layout / `docker save` archive' });
  }
}

// A blob of the layout, its digest checked (and its size, when the descriptor gives one).
async function verifiedBlob(root: string, descriptor: { digest?: unknown; size?: unknown }, what: string): Promise<string> {
  const digest = String(descriptor.digest ?? '');
  if (!DIGEST.test(digest)) throw bad(`${what} has digest ${JSON.stringify(descriptor.digest)}; only sha256 digests are supported`);
  const file = join(root, 'blobs', 'sha256', digest.slice('sha256:'.length));
  if (!existsSync(file)) throw bad(`${what} ${digest} is missing from blobs/sha256/`);
  if (typeof descriptor.size === 'number' && (await stat(file)).size !== descriptor.size) throw bad(`${what} ${digest} has ${(await stat(file)).size} bytes, its descriptor says ${descriptor.size}`);
  const actual = await fileDigest(file);
  if (actual !== digest) throw bad(`${what} does not match its digest: expected ${digest}, got ${actual}`);
  return file;
}

function diffIds(config: Record<string, any>, layers: number): string[] {
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.length !== layers || !ids.every((id) => typeof id === 'string' && DIGEST.test(id))) {
    throw bad(`the image config lists ${Array.isArray(ids) ? ids.length : 'no'} rootfs.diff_ids for ${layers} layers`);
  }
  return ids as string[];
}

// The manifest an index points at: the only one, or the linux/amd64 one; nested indexes are followed.
async function pickManifest(root: string, index: any, depth = 0): Promise<{ manifest: any; digest: string }> {
  const manifests = Array.isArray(index.manifests) ? index.manifests : [];
  const fitting = manifests.filter((m: any) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'));
  if (fitting.length !== 1) throw bad(`index.json lists ${manifests.length} manifests, ${fitting.length} for linux/amd64; exactly one is needed`);
  const chosen = fitting[0];
  const file = await verifiedBlob(root, chosen, 'manifest');
  const json = await readJson(file, 'manifest');
  if (INDEX_TYPES.has(chosen.mediaType) || INDEX_TYPES.has(json.mediaType)) {
    if (depth > 4) throw bad('image indexes nest more than 4 deep');
    return pickManifest(root, json, depth + 1);
  }
  return { manifest: json, digest: chosen.digest };
}

async function openLayout(root: string): Promise<OciImage> {
  const { manifest, digest } = await pickManifest(root, await readJson(join(root, 'index.json'), 'index.json'));
  if (!manifest.config || !Array.isArray(manifest.layers)) throw bad(`manifest ${digest} has no config or no layers`);
  const config = await readJson(await verifiedBlob(root, manifest.config, 'image config'), 'image config');
  const ids = diffIds(config, manifest.layers.length);
  const layers: OciLayer[] = [];
  for (const [i, layer] of (manifest.layers as any[]).entries()) layers.push({ file: await verifiedBlob(root, layer, `layer ${i + 1}`), diffId: ids[i]! });
  return { digest, config, layers };
}

// `docker save`: the config is named by its digest (`<hex>.json` or blobs/sha256/<hex>); layers are checked by diff_id when applied.
async function openDockerArchive(root: string): Promise<OciImage> {
  const entries = await readJson(join(root, 'manifest.json'), 'manifest.json');
  if (!Array.isArray(entries) || entries.length !== 1) throw bad(`manifest.json describes ${Array.isArray(entries) ? entries.length : 'no'} images; exactly one is needed`);
  const entry = entries[0];
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) throw bad('manifest.json has no Config or no Layers');
  const configFile = join(root, ...safeSegments(entry.Config, 'config file'));
  const digest = await fileDigest(configFile);
  const named = /([0-9a-f]{64})(\.json)?$/.exec(entry.Config)?.[1];
  if (named !== digest.slice('sha256:'.length)) throw bad(`the config ${entry.Config} does not match its name: its digest is ${digest}`);
  const config = await readJson(configFile, 'image config');
  const ids = diffIds(config, entry.Layers.length);
  const layers = (entry.Layers as unknown[]).map((name, i) => ({ file: join(root, ...safeSegments(String(name), 'layer file')), diffId: ids[i]! }));
  for (const layer of layers) if (!existsSync(layer.file)) throw bad(`layer ${layer.file} named in manifest.json is missing`);
  return { digest, config, layers };
}

// Unpacks an image archive (a tarred OCI layout or `docker save` output) into dir: files, folders and symlinks that stay inside.
async function extractArchive(file: string, dir: string): Promise<void> {
  const extract = tar.extract();
  const done = pipeline(createReadStream(file), extract);
  try {
    for await (const entry of extract) {
      const { name, type, linkname } = entry.header;
      const parts = safeSegments(name, 'archive member');
      const path = join(dir, ...parts);
      if (parts.length > 0 && type === 'directory') await mkdir(path, { recursive: true });
      else if (parts.length > 0 && type === 'file') {
        await mkdir(dirname(path), { recursive: true });
        await pipeline(entry, createWriteStream(path, { flags: 'wx' }));
      } else if (parts.length > 0 && type === 'symlink') {
        // docker save links repeated layers to one copy; each hop must stay inside the archive.
        if (linkname.startsWith('/')) safeSegments(linkname, 'archive symlink target');
        safeSegments(posix.normalize(posix.join(parts.slice(0, -1).join('/') || '.', linkname)), 'archive symlink target');
        await mkdir(dirname(path), { recursive: true });
        await symlink(linkname, path);
      }
      entry.resume();
    }
  } catch (error) {
    extract.destroy();
    await done.catch(() => undefined);
    throw error;
  }
  await done;
}

// Opens a layout folder as it is, or an archive after unpacking it into scratch.
export async function openOciImage(source: string, scratch: string): Promise<OciImage> {
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new UserError(`image ${source} does not exist`, { hint: 'give an OCI image layout folder or a `docker save` tarball' });
  let root = source;
  if (!info.isDirectory()) {
    root = join(scratch, 'archive');
    await mkdir(root, { recursive: true });
    await extractArchive(source, root);
  }
  if (existsSync(join(root, 'index.json'))) return openLayout(root);
  if (existsSync(join(root, 'manifest.json'))) return openDockerArchive(root);
  throw new UserError(`${source} holds neither index.json (OCI layout) nor manifest.json (docker save)`, { hint: 'give an OCI image layout folder or a `docker save` tarball' });
}
