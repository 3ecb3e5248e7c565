// The default host image for scenarios: built (or found up to date) with the real CLI and the user's cache.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../../builder/pipeline/sources.ts';

// The repository root, for scenarios.
export { repoRoot };

// Where the default host image and its parts are, once built.
export interface HostImage {
  dir: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  manifest: ImageManifest;
}

// The parts of the image's manifest.json that scenarios and the bench read.
interface ImageManifest {
  boot: { cmdline: string };
  build: { stages: Record<string, string> };
  image: { initramfs: { compression: 'zstd' | 'gzip' | 'none' } };
}

// Runs `./mvos build` on a recipe (a cold build compiles the guest kernel: minutes) and returns the image.
export function buildHostImage(
  recipe = 'recipes/host.yaml',
  options: { cwd?: string; env?: Record<string, string>; output?: string } = {},
): HostImage {
  const cwd = options.cwd ?? repoRoot;
  const args = ['build', recipe, ...(options.output ? ['--output', options.output] : [])];
  const run = spawnSync(join(cwd, 'mvos'), args, {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    encoding: 'utf8',
    timeout: 45 * 60_000,
  });
  if (run.status !== 0)
    throw new Error(`mvos ${args.join(' ')} failed (${run.status ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
  const recipeName = /^name: (\S+)/m.exec(readFileSync(resolve(cwd, recipe), 'utf8'))![1]!;
  const dir = join(options.output ?? join(cwd, 'images'), recipeName);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ImageManifest;
  return { dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd'), cmdline: manifest.boot.cmdline, manifest };
}
