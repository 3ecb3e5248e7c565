// Finds an image's config and layers in an OCI image layout (index.json, blobs/sha256/…) or a `docker save` tarball
// (manifest.json + layer tars), and checks every blob against its digest before anything trusts it. Every file is
// looked up inside the layout as it sees itself (oci-files.ts): a symlinked manifest.json cannot read a host file.
import { createHash } from 'node:crypto';
import { lstat, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { extractArchive } from './oci-archive.ts';
import { findInside, openFile, readSmall } from './oci-files.ts';
import { UnpackBudget, type UnpackLimits } from './oci-limits.ts';

// One layer to apply: its real path (no symlink in it), its size (the descriptor's) and its tar's digest (diff_id).
export interface OciLayer {
  file: string;
  size: number;
  diffId: string;
}

// An image ready to unpack: its identity (the manifest's digest), its verified config, its layers bottom first.
export interface OciImage {
  digest: string;
  config: Record<string, unknown>;
  layers: OciLayer[];
}

// The JSON below comes from the image: each type names the fields read, and each field is checked where it is used.
interface Descriptor {
  digest?: unknown;
  size?: unknown;
  mediaType?: unknown;
  platform?: { os?: unknown; architecture?: unknown };
}

interface ManifestJson {
  mediaType?: unknown;
  manifests?: unknown;
  config?: Descriptor;
  layers?: unknown;
}

type ImageConfig = Record<string, unknown> & { rootfs?: { diff_ids?: unknown } };

interface ArchiveEntry {
  Config?: unknown;
  Layers?: unknown;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const INDEX_TYPES = new Set<unknown>([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

// Manifests, indexes and configs are a few KiB; a bigger one is refused rather than read into memory.
const MAX_JSON_BYTES = 16 << 20;

// sha256 and size of a regular file, streamed.
async function fileDigest(file: string, what: string): Promise<{ digest: string; size: number }> {
  const handle = await openFile(file, what);
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of handle.createReadStream()) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

function bad(message: string): UserError {
  return new UserError(message, { hint: 'the image is damaged or not an OCI layout / `docker save` archive' });
}

// A JSON file of the layout, by its real path (found with findInside).
async function readJson(file: string, what: string): Promise<unknown> {
  const text = await readSmall(file, what, MAX_JSON_BYTES);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new UserError(`cannot read ${what} (${file}): ${(cause as Error).message}`, {
      cause,
      hint: 'the image is damaged or not an OCI layout / `docker save` archive',
    });
  }
}

// A JSON file at the top of the layout, looked up inside it.
async function readTopJson(root: string, name: string): Promise<unknown> {
  const file = await findInside(root, name, name);
  if (!file) throw bad(`${name} is missing, or a symlink to nothing inside the image`);
  return readJson(file, name);
}

// A blob of the layout (its real path and size), its digest checked (and its size, when the descriptor gives one).
async function verifiedBlob(
  root: string,
  descriptor: Descriptor,
  what: string,
): Promise<{ file: string; size: number }> {
  const digest = String(descriptor.digest ?? '');
  if (!DIGEST.test(digest))
    throw bad(`${what} has digest ${JSON.stringify(descriptor.digest)}; only sha256 digests are supported`);
  const file = await findInside(root, `blobs/sha256/${digest.slice('sha256:'.length)}`, what);
  if (!file) throw bad(`${what} ${digest} is missing from blobs/sha256/`);
  const size = (await stat(file)).size;
  if (typeof descriptor.size === 'number' && size !== descriptor.size)
    throw bad(`${what} ${digest} has ${size} bytes, its descriptor says ${descriptor.size}`);
  const actual = await fileDigest(file, what);
  if (actual.digest !== digest || actual.size !== size)
    throw bad(`${what} does not match its digest: expected ${digest}, got ${actual.digest}`);
  return { file, size };
}

function diffIds(config: ImageConfig, layers: number): string[] {
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.length !== layers || !ids.every((id) => typeof id === 'string' && DIGEST.test(id))) {
    throw bad(`the image config lists ${Array.isArray(ids) ? ids.length : 'no'} rootfs.diff_ids for ${layers} layers`);
  }
  return ids as string[];
}

// The manifest an index points at: the only one, or the linux/amd64 one; nested indexes are followed.
async function pickManifest(
  root: string,
  index: ManifestJson,
  depth = 0,
): Promise<{ manifest: ManifestJson; digest: string }> {
  const manifests: Descriptor[] = Array.isArray(index.manifests) ? index.manifests : [];
  const fitting = manifests.filter(
    (m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'),
  );
  if (fitting.length !== 1)
    throw bad(
      `index.json lists ${manifests.length} manifests, ${fitting.length} for linux/amd64; exactly one is needed`,
    );
  const chosen = fitting[0]!;
  const { file } = await verifiedBlob(root, chosen, 'manifest');
  const json = (await readJson(file, 'manifest')) as ManifestJson;
  if (INDEX_TYPES.has(chosen.mediaType) || INDEX_TYPES.has(json.mediaType)) {
    if (depth > 4) throw bad('image indexes nest more than 4 deep');
    return pickManifest(root, json, depth + 1);
  }
  return { manifest: json, digest: chosen.digest as string };
}

async function openLayout(root: string): Promise<OciImage> {
  const { manifest, digest } = await pickManifest(root, (await readTopJson(root, 'index.json')) as ManifestJson);
  if (!manifest.config || !Array.isArray(manifest.layers)) throw bad(`manifest ${digest} has no config or no layers`);
  const config = (await readJson(
    (
      await verifiedBlob(root, manifest.config, 'image config')
    ).file,
    'image config',
  )) as ImageConfig;
  const ids = diffIds(config, manifest.layers.length);
  const layers: OciLayer[] = [];
  for (const [i, layer] of (manifest.layers as Descriptor[]).entries())
    layers.push({ ...(await verifiedBlob(root, layer, `layer ${i + 1}`)), diffId: ids[i]! });
  return { digest, config, layers };
}

// `docker save`: the config is named by its digest (`<hex>.json` or blobs/sha256/<hex>); layers are checked by diff_id
// when applied.
async function openDockerArchive(root: string): Promise<OciImage> {
  const entries = await readTopJson(root, 'manifest.json');
  if (!Array.isArray(entries) || entries.length !== 1)
    throw bad(
      `manifest.json describes ${Array.isArray(entries) ? entries.length : 'no'} images; exactly one is needed`,
    );
  const entry: ArchiveEntry = entries[0];
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers))
    throw bad('manifest.json has no Config or no Layers');
  const configFile = await findInside(root, entry.Config, 'config file');
  if (!configFile) throw bad(`the config ${entry.Config} named in manifest.json is missing`);
  const { digest } = await fileDigest(configFile, 'image config');
  const named = /([0-9a-f]{64})(\.json)?$/.exec(entry.Config)?.[1];
  if (named !== digest.slice('sha256:'.length))
    throw bad(`the config ${entry.Config} does not match its name: its digest is ${digest}`);
  const config = (await readJson(configFile, 'image config')) as ImageConfig;
  const ids = diffIds(config, entry.Layers.length);
  const layers: OciLayer[] = [];
  for (const [i, name] of (entry.Layers as unknown[]).entries()) {
    const file = await findInside(root, String(name), 'layer file');
    if (!file) throw bad(`layer ${String(name)} named in manifest.json is missing`);
    layers.push({ file, size: (await stat(file)).size, diffId: ids[i]! });
  }
  return { digest, config, layers };
}

// Opens a layout folder as it is, or an archive after unpacking it into scratch (within the limits' caps).
export async function openOciImage(source: string, scratch: string, limits: UnpackLimits): Promise<OciImage> {
  const info = await stat(source).catch(() => undefined);
  if (!info)
    throw new UserError(`image ${source} does not exist`, {
      hint: 'give an OCI image layout folder or a `docker save` tarball',
    });
  let root = source;
  if (!info.isDirectory()) {
    root = join(scratch, 'archive');
    await mkdir(root, { recursive: true });
    await extractArchive(source, root, new UnpackBudget(limits, 'its archive'));
  }
  // Present at the top (a symlink too): which kind of image it is; what it leads to is looked up inside when read.
  const present = async (name: string) => (await lstat(join(root, name)).catch(() => undefined)) !== undefined;
  if (await present('index.json')) return openLayout(root);
  if (await present('manifest.json')) return openDockerArchive(root);
  throw new UserError(`${source} holds neither index.json (OCI layout) nor manifest.json (docker save)`, {
    hint: 'give an OCI image layout folder or a `docker save` tarball',
  });
}
