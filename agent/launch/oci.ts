// `container` launches start from an OCI image: unpack its layers (digests checked, whiteouts applied, nothing written
// outside the root), pack the tree as a read-only EROFS root for the microVM and keep the run configuration beside it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UserError } from '../../builder/errors.ts';
import { mkfsErofs, uuidFromDigest } from '../../builder/tools/erofs.ts';
import { resolveUser, runConfig, type ContainerRunConfig, type RunOverrides } from './oci-config.ts';
import { applyLayer, setFolderModes, type LayerReport } from './oci-layers.ts';
import { openOciImage, type OciLayer } from './oci-source.ts';

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
}

const GZIP = Buffer.from([0x1f, 0x8b]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

async function magic(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

// The layer's uncompressed tar, hashed on the way through so it can be checked against the config's diff_id.
async function layerStream(layer: OciLayer): Promise<{ stream: Readable; digest: () => string }> {
  const head = await magic(layer.file);
  if (head.subarray(0, 4).equals(ZSTD)) throw new UserError(`layer ${layer.diffId} is zstd-compressed, which this unpacker does not read`, { hint: 'save the image with gzip or uncompressed layers' });
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const raw = createReadStream(layer.file);
  const plain = head.subarray(0, 2).equals(GZIP) ? raw.pipe(createGunzip()) : raw.pipe(new PassThrough());
  raw.on('error', (e) => plain.destroy(e));
  return { stream: plain.pipe(tap), digest: () => `sha256:${hash.digest('hex')}` };
}

// The image's creation time, for the root image's timestamps: the same image gives the same bytes.
function createdEpoch(config: Record<string, any>): number {
  const ms = Date.parse(String(config.created ?? ''));
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
}

// Unpacks source (an OCI layout folder or a `docker save` tarball) into outDir/rootfs.erofs and outDir/run.json.
export async function unpackOciImage(source: string, outDir: string, options: UnpackOptions = {}): Promise<UnpackedImage> {
  const owners = options.owners ?? (process.getuid?.() === 0 ? 'keep' : 'ignore');
  await mkdir(outDir, { recursive: true });
  const scratch = await mkdtemp(join(outDir, '.unpack-'));
  const root = join(scratch, 'root');
  const dirModes = new Map<string, number>();
  try {
    const image = await openOciImage(source, scratch);
    await mkdir(root, { mode: 0o755 });
    const layers: LayerReport[] = [];
    for (const layer of image.layers) {
      const { stream, digest } = await layerStream(layer);
      layers.push(await applyLayer(root, stream, { owners, dirModes }));
      const actual = digest();
      if (actual !== layer.diffId) throw new UserError(`a layer does not match its diff_id: expected ${layer.diffId}, got ${actual}`, { hint: 'the image is damaged; save or pull it again' });
    }
    await setFolderModes(root, dirModes);
    const base = runConfig(image.config, options.overrides);
    const run: ContainerRunConfig = { ...base, ...(await resolveUser(root, base.user)) };
    const temp = join(scratch, 'rootfs.erofs');
    await mkfsErofs(root, temp, { sourceDateEpoch: createdEpoch(image.config), uuid: uuidFromDigest(image.digest), allRoot: owners === 'ignore' });
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
