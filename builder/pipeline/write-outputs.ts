// The last step: images/<name>/ gets the image's files and media, the SBOM and the manifest, unless all are there
// already.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileStamp, readStamps, writeStamps } from '../inputs/stamps.ts';
import type { BuildContext } from './build.ts';
import type { BuiltImage } from './image.ts';
import { buildManifest } from './manifest.ts';
import type { OutputBlob } from './media.ts';
import { writeImageDir } from './output.ts';
import { buildSbom } from './sbom.ts';
import { sha256 } from './stage.ts';

// An output file as the SBOM and the manifest describe it.
interface DescribedOutput {
  file: string;
  sha256: string;
  size: number;
}

// Where the outputs are, and whether they were already there (nothing written).
export interface WrittenOutputs {
  dir: string;
  upToDate: boolean;
}

// vmlinuz and initrd are always written; rootfs.erofs when the recipe asks for the root disk.
function imageFiles(image: BuiltImage): OutputBlob[] {
  const files = [
    { file: 'vmlinuz', blob: image.vmlinuz },
    { file: 'initrd', blob: image.initrd },
  ];
  if (image.disk) files.push({ file: 'rootfs.erofs', blob: image.disk });
  return files;
}

function jsonFile(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

function sbomFile(ctx: BuildContext, image: BuiltImage, described: readonly DescribedOutput[]): Buffer {
  const { recipe } = image;
  return jsonFile(
    buildSbom({
      name: recipe.name,
      version: recipe.version,
      sourceDateEpoch: ctx.lock.sourceDateEpoch,
      builder: ctx.builder,
      packages: image.inputs,
      files: described.map((d) => ({ name: d.file, sha256: d.sha256 })),
    }),
  );
}

function manifestFile(ctx: BuildContext, image: BuiltImage, outputs: readonly DescribedOutput[]): Buffer {
  return jsonFile(
    buildManifest({
      image,
      lock: ctx.lock,
      lockSha256: sha256(readFileSync(ctx.lockPath)),
      lockPath: ctx.lockPath,
      builder: ctx.builder,
      stages: ctx.stages,
      outputs,
    }),
  );
}

function outputStamp(path: string, sha: string): string {
  return `${sha}@${fileStamp(path)}`;
}

// Whether an output file holds these bytes: re-hashed only when its file state changed since it was last found right,
// so a no-op rebuild does not re-read hundreds of megabytes of ISO and disk images, yet any write to an output is
// noticed.
function sameOutput(path: string, expected: string, stamps: Map<string, string>): boolean {
  if (!existsSync(path)) return false;
  if (stamps.get(`out:${path}`) === outputStamp(path, expected)) return true;
  const same = createHash('sha256').update(readFileSync(path)).digest('hex') === expected;
  if (same) stamps.set(`out:${path}`, outputStamp(path, expected));
  return same;
}

// Writes the image's folder atomically when any file in it would differ.
export async function writeOutputs(
  ctx: BuildContext,
  image: BuiltImage,
  media: readonly OutputBlob[],
): Promise<WrittenOutputs> {
  const blobs = [...imageFiles(image), ...media];
  const described = blobs.map(({ file, blob }) => ({ file, sha256: blob, size: statSync(ctx.cache.path(blob)).size }));
  const sbom = sbomFile(ctx, image, described);
  const outputs = [...described, { file: 'sbom.spdx.json', sha256: sha256(sbom), size: sbom.length }];
  const manifest = manifestFile(ctx, image, outputs);
  const dir = join(ctx.imagesDir, image.recipe.name);
  const stamps = await readStamps(ctx.cache);
  const recorded = JSON.stringify([...stamps]);
  const expected = [...outputs, { file: 'manifest.json', sha256: sha256(manifest) }];
  const upToDate = expected.every((o) => sameOutput(join(dir, o.file), o.sha256, stamps));
  if (!upToDate) {
    const size = outputs.reduce((n, o) => n + o.size, manifest.length);
    const shown = relative(process.cwd(), dir);
    const task = ctx.progress.start(`writing ${shown.startsWith('..') ? dir : shown}`, size, 'bytes');
    try {
      const files: Record<string, Buffer> = { 'sbom.spdx.json': sbom, 'manifest.json': manifest };
      for (const { file, blob } of blobs) files[file] = await ctx.cache.read(blob, `${image.recipe.name} ${file}`);
      await writeImageDir(ctx.imagesDir, image.recipe.name, files, (bytes) => task.advance(bytes));
    } catch (error) {
      task.abort();
      throw error;
    }
    task.done();
    for (const o of expected) stamps.set(`out:${join(dir, o.file)}`, outputStamp(join(dir, o.file), o.sha256));
  }
  // A no-op build writes nothing, not even the stamps.
  if (JSON.stringify([...stamps]) !== recorded) await writeStamps(ctx.cache, stamps);
  return { dir, upToDate };
}
