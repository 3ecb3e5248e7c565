// The `mvos` launcher: runs the CLI from a bundle made once from the TypeScript sources, and rebuilt when a source it
// was made from changed, with V8's code cache per verb, so a start costs about what `node -e 0` does. Plain JavaScript:
// it must run before anything can compile TypeScript.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

// Without a trailing slash: the stamp and the bundle's folder name compare it as a string.
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ENTRY = 'builder/cli/main.ts';
const LAUNCHER = 'builder/cli/launcher.mjs';
// Written by npm on every install, so a changed dependency makes the bundle stale too.
const NPM_STAMP = 'node_modules/.package-lock.json';

const bundlesDir = (base) => join(base, 'node_modules', '.cache', 'mvos-cli');

// Where the bundle, its stamp and its code caches live: git-ignored, one folder per checkout path, since the bundle
// holds its checkout's paths and a test's copy of the checkout shares the main one's node_modules by a link.
export function bundleDir(base = root) {
  return join(bundlesDir(base), createHash('sha256').update(resolve(base)).digest('hex').slice(0, 16));
}

// Bundles of checkouts that are gone (a test's copies) are removed when a bundle is made.
function pruneBundles(base) {
  for (const name of readdirSync(bundlesDir(base))) {
    const dir = join(bundlesDir(base), name);
    try {
      const { root: owner } = JSON.parse(readFileSync(join(dir, 'stamp.json'), 'utf8'));
      if (typeof owner === 'string' && dir === bundleDir(owner) && statSync(join(owner, 'mvos')).isFile()) continue;
    } catch {}
    if (dir !== bundleDir(base)) rmSync(dir, { recursive: true, force: true });
  }
}

function writeAtomically(path, data) {
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

function fingerprint(base, file) {
  try {
    const s = statSync(join(base, file));
    return [s.mtimeMs, s.size];
  } catch {
    return null;
  }
}

// True when the bundle exists and every file it was made from is as it was then (mtime and size, as make compares).
export function isFresh(base = root) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(bundleDir(base), 'stamp.json'), 'utf8'));
  } catch {
    return false;
  }
  if (stamp.root !== resolve(base) || !Array.isArray(stamp.files)) return false;
  return stamp.files.every(([file, mtime, size]) => {
    const now = fingerprint(base, file);
    return now !== null && now[0] === mtime && now[1] === size;
  });
}

// A module that finds its own files through import.meta.url keeps finding them from inside the bundle: `define` turns
// the expression (never a string that spells it) into a name each module declares as its own file's URL.
const META_URL = '__mvosModuleUrl';
const sourceLocations = {
  name: 'mvos-source-locations',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: `const ${META_URL} = ${JSON.stringify(pathToFileURL(args.path).href)};\n${readFileSync(args.path, 'utf8')}`,
      loader: 'ts',
    }));
  },
};

// Bundles the CLI into bundleDir(): CommonJS, so V8 can cache its compiled code; esbuild and native addons stay
// outside (esbuild finds its binary from its own location).
export async function buildBundle(base = root) {
  const { build } = createRequire(join(base, 'package.json'))('esbuild');
  const dir = bundleDir(base);
  const result = await build({
    absWorkingDir: base,
    entryPoints: [ENTRY],
    outfile: join(dir, 'cli.cjs'),
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['esbuild', '*.node'],
    logLevel: 'silent',
    define: { 'import.meta.url': META_URL },
    plugins: [sourceLocations],
  });
  mkdirSync(dir, { recursive: true });
  for (const output of result.outputFiles) writeAtomically(output.path, output.contents);
  const inputs = Object.keys(result.metafile.inputs).filter((file) => !file.startsWith('node_modules/'));
  // The launcher itself is an input: how it bundles is part of what the bundle is.
  const files = [...inputs, NPM_STAMP, LAUNCHER].sort().map((file) => [file, ...(fingerprint(base, file) ?? [0, -1])]);
  // Caches of the old bundle's code: V8 would reject them anyway, after reading them.
  for (const name of readdirSync(dir)) if (name.endsWith('.v8')) rmSync(join(dir, name), { force: true });
  writeAtomically(join(dir, 'stamp.json'), JSON.stringify({ root: resolve(base), files }));
  pruneBundles(base);
}

// One code cache per verb: each holds the functions that verb compiled, so its next start compiles almost nothing.
function cacheName(argv) {
  const verb = argv.find((word) => !word.startsWith('-'));
  return `${verb && /^[a-z][a-z-]{0,31}$/.test(verb) ? verb : 'mvos'}.v8`;
}

// Loads the bundle with its code cache, runs main(argv) and returns the exit code.
export async function runBundle(argv, base = root) {
  const dir = bundleDir(base);
  const file = join(dir, 'cli.cjs');
  const cachePath = join(dir, cacheName(argv));
  let cachedData;
  try {
    cachedData = readFileSync(cachePath);
  } catch {}
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  const code = await module.exports.main(argv);
  if (!cachedData || script.cachedDataRejected) {
    try {
      writeAtomically(cachePath, script.createCachedData());
    } catch {}
  }
  return code;
}

// The sources directly through tsx: with --debug or MVOS_NO_BUNDLE, and when the bundle cannot be made (a syntax
// error shows as tsx reports it, a read-only checkout still runs).
async function runSources(argv) {
  const { register } = await import(pathToFileURL(join(root, 'node_modules/tsx/dist/esm/api/index.mjs')).href);
  register();
  const { main } = await import(pathToFileURL(join(root, ENTRY)).href);
  return main(argv);
}

async function launch(argv) {
  // Stack traces (--debug) name the TypeScript sources' lines, which only the sources themselves give.
  if (process.env.MVOS_NO_BUNDLE || argv.includes('--debug')) return runSources(argv);
  if (!isFresh()) {
    try {
      await buildBundle();
    } catch {
      return runSources(argv);
    }
  }
  return runBundle(argv);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await launch(process.argv.slice(2));
}
