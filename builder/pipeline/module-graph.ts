// The repository modules a module runs, found by esbuild as a bundler would, so a stage's key never misses an import.
import { type BuildOptions, build } from 'esbuild';

// How esbuild reads the repository's modules, the same for the agent bundle and for module graphs: in memory, for node,
// as ESM.
export const REPOSITORY_MODULES = {
  bundle: true,
  write: false,
  metafile: true,
  platform: 'node',
  format: 'esm',
  logLevel: 'silent',
  // Paths follow the checkout's own layout, not where a linked node_modules really lives.
  preserveSymlinks: true,
} as const satisfies BuildOptions;

const known = new Map<string, Promise<string[]>>();

async function resolveGraph(root: string, entry: string): Promise<string[]> {
  const result = await build({
    ...REPOSITORY_MODULES,
    absWorkingDir: root,
    entryPoints: [entry],
    outdir: 'module-graph',
    // npm packages are not the repository's code; their versions are pinned by package-lock.json.
    packages: 'external',
  });
  return Object.keys(result.metafile.inputs).sort();
}

// The module (relative to root) and every module under root it imports, directly or not, sorted; type-only imports run
// nothing and are left out.
export function moduleGraph(root: string, entry: string): Promise<string[]> {
  let graph = known.get(`${root}\0${entry}`);
  if (!graph) {
    graph = resolveGraph(root, entry);
    known.set(`${root}\0${entry}`, graph);
  }
  return graph;
}
