// The repository modules a module runs, found by esbuild as a bundler would, so a stage's key never misses an import.
import { build } from 'esbuild';

const known = new Map<string, Promise<string[]>>();

async function resolveGraph(root: string, entry: string): Promise<string[]> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    outdir: 'module-graph',
    logLevel: 'silent',
    preserveSymlinks: true,
    // npm packages are not the repository's code; their versions are pinned by package-lock.json.
    packages: 'external',
  });
  return Object.keys(result.metafile.inputs).sort();
}

// The module (relative to root) and every module under root it imports, directly or not, sorted; type-only imports run nothing and are left out.
export function moduleGraph(root: string, entry: string): Promise<string[]> {
  let graph = known.get(`${root}\0${entry}`);
  if (!graph) {
    graph = resolveGraph(root, entry);
    known.set(`${root}\0${entry}`, graph);
  }
  return graph;
}
