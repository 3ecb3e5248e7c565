// `container` launches start from an OCI image: unpack its layers (digests checked, whiteouts applied, nothing written
// outside the root, bytes and entries capped), pack the tree as a read-only EROFS root for the microVM and keep the
// run configuration beside it.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, pipeline, type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { mkfsErofs, uuidFromDigest } from '../../common/erofs.ts';
import { UserError } from '../../common/errors.ts';
import { type ContainerRunConfig, type RunOverrides, resolveUser, runConfig } from './oci-config.ts';
import { openFile } from './oci-files.ts';
import { applyLayer, type LayerReport, setFolderModes } from './oci-layers.ts';
import { UnpackBudget, unpackLimits } from './oci-limits.ts';
import { type OciLayer, openOciImage } from './oci-source.ts';

// What unpacking wrote: the root image, the run configuration (also as run.json beside it) and what each layer did.
export interface UnpackedImage {
  digest: string;
  rootfs: string;
  runConfigFile: string;
  run: ContainerRunConfig;
  layers: LayerReport[];
}

// Options of one unpack; owners default to 'keep' when running as root (the agent on a host), else 'ignore'.
export interface UnpackOptions {
  overrides?: RunOverrides;
  owners?: 'keep' | 'ignore';
  // Caps on one image (defaults 4 GiB and 200,000, oci-limits.ts): all its layers' tar bytes and entries together,
  // and its archive's members the same way.
  maxBytes?: number;
  maxEntries?: number;
}

const GZIP = Buffer.from([0x1f, 0x8b]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

// The layer's uncompressed tar, hashed on the way through so it can be checked against the config's diff_id. The file
// is read only up to the size its descriptor gave (and checked to have it), never through a symlink.
async function layerStream(layer: OciLayer): Promise<{ stream: Readable; digest: () => string }> {
  const handle = await openFile(layer.file, `layer ${layer.diffId}`);
  const head = Buffer.alloc(4);
  try {
    const { size } = await handle.stat();
    if (size !== layer.size)
      throw new UserError(`layer ${layer.diffId} has ${size} bytes, its descriptor says ${layer.size}`, {
        hint: 'the image is damaged; save or pull it again',
      });
    await handle.read(head, 0, 4, 0);
    if (head.equals(ZSTD))
      throw new UserError(`layer ${layer.diffId} is zstd-compressed, which this unpacker does not read`, {
        hint: 'save the image with gzip or uncompressed layers',
      });
  } catch (error) {
    await handle.close();
    throw error;
  }
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const raw = handle.createReadStream({ start: 0, end: Math.max(layer.size - 1, 0) });
  // pipeline, not pipe: a broken gzip fails the stream applyLayer reads, and a refusal there closes the file.
  pipeline(raw, head.subarray(0, 2).equals(GZIP) ? createGunzip() : new PassThrough(), tap, () => undefined);
  return { stream: tap, digest: () => `sha256:${hash.digest('hex')}` };
}

// The image's creation time, for the root image's timestamps: the same image gives the same bytes.
function createdEpoch(config: Record<string, unknown>): number {
  const ms = Date.parse(String(config.created ?? ''));
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
}

// Unpacks source (an OCI layout folder or a `docker save` tarball) into outDir/rootfs.erofs and outDir/run.json.
export async function unpackOciImage(
  source: string,
  outDir: string,
  options: UnpackOptions = {},
): Promise<UnpackedImage> {
  const owners = options.owners ?? (process.getuid?.() === 0 ? 'keep' : 'ignore');
  const limits = unpackLimits(options);
  await mkdir(outDir, { recursive: true });
  const scratch = await mkdtemp(join(outDir, '.unpack-'));
  const root = join(scratch, 'root');
  const dirModes = new Map<string, number>();
  try {
    const image = await openOciImage(source, scratch, limits);
    await mkdir(root, { mode: 0o755 });
    const layers: LayerReport[] = [];
    const budget = new UnpackBudget(limits, 'its layers');
    for (const layer of image.layers) {
      const { stream, digest } = await layerStream(layer);
      layers.push(await applyLayer(root, stream, { owners, dirModes, budget }));
      const actual = digest();
      if (actual !== layer.diffId)
        throw new UserError(`a layer does not match its diff_id: expected ${layer.diffId}, got ${actual}`, {
          hint: 'the image is damaged; save or pull it again',
        });
    }
    await setFolderModes(root, dirModes);
    const base = runConfig(image.config, options.overrides);
    const run: ContainerRunConfig = { ...base, ...(await resolveUser(root, base.user)) };
    const temp = join(scratch, 'rootfs.erofs');
    await mkfsErofs(root, temp, {
      sourceDateEpoch: createdEpoch(image.config),
      uuid: uuidFromDigest(image.digest),
      allRoot: owners === 'ignore',
    });
    const rootfs = join(outDir, 'rootfs.erofs');
    const runConfigFile = join(outDir, 'run.json');
    await writeFile(join(scratch, 'run.json'), `${JSON.stringify({ image: image.digest, ...run }, null, 2)}\n`);
    await rename(temp, rootfs);
    await rename(join(scratch, 'run.json'), runConfigFile);
    return { digest: image.digest, rootfs, runConfigFile, run, layers };
  } finally {
    await setFolderModes(root, dirModes, 'open').catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}
