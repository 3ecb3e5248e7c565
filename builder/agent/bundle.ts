// Bundles the agent into one ESM file (agent.mjs) that the image's plain `node` runs without flags or node_modules.
import { fileURLToPath } from 'node:url';
import { type BuildResult, build, type Plugin } from 'esbuild';
import { FailureError } from '../../common/errors.ts';
import { XTERM_ASSETS_MODULE, xtermAssetsModule } from '../../common/xterm-assets.ts';
import { REPOSITORY_MODULES } from '../pipeline/module-graph.ts';

// The bundle and the repo-relative files it was made from (the build hashes them for its cache key).
export interface AgentBundle {
  code: Buffer;
  inputs: string[];
}

// Name the bundle must have on the host: .mjs makes node treat it as ESM without a package.json beside it.
export const AGENT_BUNDLE_NAME = 'agent.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

// esbuild turns require() of CommonJS dependencies (execa's cross-spawn) into a shim that needs a real `require` in ESM
// output; ssh2 also reads __dirname and __filename when it loads, which ESM does not define.
const banner = [
  "import { createRequire as __mvosCreateRequire } from 'node:module';",
  "import { fileURLToPath as __mvosFileURLToPath } from 'node:url';",
  'const require = __mvosCreateRequire(import.meta.url);',
  'const __filename = __mvosFileURLToPath(import.meta.url);',
  "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
].join('\n');

// The browser assets the agent serves come from npm packages: the module that reads them is replaced by their text.
const inlineBrowserAssets: Plugin = {
  name: 'mvos-browser-assets',
  setup(build) {
    build.onLoad({ filter: XTERM_ASSETS_MODULE }, () => ({ contents: xtermAssetsModule(), loader: 'js' }));
  },
};

// The esbuild target for a Debian nodejs version ("20.19.2+dfsg-1+deb13u3" → "node20.19"): the syntax that runtime
// has.
export function esbuildNodeTarget(debianVersion: string): string {
  const match = /^(?:\d+:)?(\d+)\.(\d+)/.exec(debianVersion);
  if (!match) throw new FailureError(`not a Node version: ${debianVersion}`);
  return `node${match[1]}.${match[2]}`;
}

// The runtime the bundle targets when no lock names one: the oldest Node a supported image carries (Debian 12's).
export const DEFAULT_NODE_TARGET = 'node18';

// Bundles agent/main.ts (or `entry`, relative to the repository root or absolute) for `target` (the image's Node):
// deterministic bytes, no build-machine paths, not minified.
export async function bundleAgent(options: { entry?: string; target?: string } = {}): Promise<AgentBundle> {
  const entry = options.entry ?? 'agent/main.ts';
  let result: BuildResult<{ write: false; metafile: true }>;
  try {
    result = await build({
      ...REPOSITORY_MODULES,
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: AGENT_BUNDLE_NAME,
      target: options.target ?? DEFAULT_NODE_TARGET,
      banner: { js: banner },
      sourcemap: false,
      legalComments: 'none',
      minify: false,
      charset: 'utf8',
      // Native addons (ssh2's optional sshcrypto, cpu-features) stay out: their require fails on the host and ssh2
      // falls back to JS crypto.
      external: ['*.node'],
      plugins: [inlineBrowserAssets],
    });
  } catch (error) {
    const errors =
      (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> })
        .errors ?? [];
    const lines = errors.map((e) =>
      e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1} ${e.text}` : e.text,
    );
    throw new FailureError(
      `bundling the agent from ${entry} failed${lines.length ? `:\n${lines.join('\n')}` : `: ${(error as Error).message}`}`,
      { cause: error },
    );
  }
  const output = result.outputFiles[0];
  if (!output) throw new FailureError(`esbuild wrote no output for ${entry}`);
  return { code: Buffer.from(output.contents), inputs: Object.keys(result.metafile.inputs).sort() };
}
