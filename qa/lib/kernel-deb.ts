// Finds a real Debian kernel package for tests: apt's download cache first, then the mvos cache; never a silent skip.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContentCache } from '../../builder/inputs/cache.ts';
import { runTool } from '../../common/exec.ts';

// Where apt keeps the packages it downloaded.
export const APT_ARCHIVES = '/var/cache/apt/archives';

// What to run when no kernel package is around.
export const KERNEL_DEB_HINT =
  'get one with `apt-get install --download-only linux-image-cloud-amd64` (.ci/setup does this)';

// The path of a linux-image-*.deb (the cloud flavour first: it boots fastest under TCG); throws with a hint when there
// is none.
export async function findKernelDeb(options: { archives?: string; cacheRoot?: string } = {}): Promise<string> {
  const archives = options.archives ?? APT_ARCHIVES;
  const local = existsSync(archives)
    ? readdirSync(archives)
        .filter((n) => /^linux-image-\d.*-amd64_.*\.deb$/.test(n) && !n.includes('-dbg'))
        .sort()
    : [];
  const preferred = local.find((n) => n.includes('-cloud-amd64_')) ?? local[0];
  if (preferred) return join(archives, preferred);
  const blobs = join(options.cacheRoot ?? ContentCache.fromEnvironment().root, 'blobs', 'sha256');
  for (const prefix of existsSync(blobs) ? readdirSync(blobs).sort() : []) {
    for (const name of readdirSync(join(blobs, prefix)).sort()) {
      const path = join(blobs, prefix, name);
      if (statSync(path).size < 10_000_000) continue;
      const { stdout } = await runTool('dpkg-deb', ['-f', path, 'Package'], { allowFailure: true });
      if (/^linux-image-\d/.test(stdout.trim())) return path;
    }
  }
  throw new Error(`no linux-image .deb in ${archives} or the mvos cache: ${KERNEL_DEB_HINT}`);
}
