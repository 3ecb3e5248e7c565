// Test support: builds OCI image layouts and `docker save` archives from member lists, the way real tools lay them out.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

// One layer member; `content` for files, `linkname` for symlinks and hard links.
export interface Member {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device';
  mode?: number;
  content?: Buffer | string;
  linkname?: string;
  uid?: number;
  gid?: number;
}

const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

// An uncompressed layer tar holding the members in the given order.
export async function layerTar(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const m of members) {
    const type = m.type ?? 'file';
    const header = {
      name: m.name,
      type,
      mode: m.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: m.uid ?? 0,
      gid: m.gid ?? 0,
      mtime: new Date(0),
      linkname: m.linkname,
      devmajor: 5,
      devminor: 1,
    };
    const body = type === 'file' ? Buffer.from(m.content ?? '') : Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => pack.entry(header, body, (e) => (e ? reject(e) : resolve())));
  }
  pack.finalize();
  return collected;
}

// The image config for these uncompressed layers and run settings.
export function imageConfig(layers: Buffer[], settings: Record<string, unknown>): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-02T03:04:05Z',
      config: settings,
      rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    }),
  );
}

// An OCI image layout in dir; `gzip` picks which layers are stored compressed. Returns the blob paths for tampering
// tests.
export async function writeLayout(
  dir: string,
  layers: Buffer[],
  settings: Record<string, unknown>,
  gzip: boolean[] = [],
): Promise<{ blobs: string[] }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (data: Buffer) => {
    const digest = sha(data);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const config = await put(imageConfig(layers, settings));
  const stored = layers.map((l, i) => (gzip[i] ? gzipSync(l) : l));
  const layerDescs = [];
  for (const [i, data] of stored.entries())
    layerDescs.push({
      mediaType: `application/vnd.oci.image.layer.v1.tar${gzip[i] ? '+gzip' : ''}`,
      ...(await put(data)),
    });
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layerDescs,
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    }),
  );
  return { blobs: layerDescs.map((d) => join(dir, 'blobs', 'sha256', d.digest.slice(7))) };
}

// A `docker save` (legacy layout) tarball: <config-hex>.json, <n>/layer.tar, manifest.json; extra members go in as
// given.
export async function dockerArchive(
  layers: Buffer[],
  settings: Record<string, unknown>,
  extra: Member[] = [],
): Promise<Buffer> {
  const config = imageConfig(layers, settings);
  const configName = `${sha(config).slice(7)}.json`;
  const members: Member[] = [{ name: configName, content: config }];
  for (const [i, l] of layers.entries())
    members.push({ name: `layer${i}`, type: 'directory' }, { name: `layer${i}/layer.tar`, content: l });
  members.push(
    {
      name: 'manifest.json',
      content: JSON.stringify([
        { Config: configName, RepoTags: ['test:latest'], Layers: layers.map((_, i) => `layer${i}/layer.tar`) },
      ]),
    },
    ...extra,
  );
  return layerTar(members);
}
