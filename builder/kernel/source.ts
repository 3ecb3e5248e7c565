// Small guest kernels built from Debian's linux-source package: tinyconfig plus the fragments of kernel-config/<name>/,
// reproducibly, cached by key.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { FailureError, UserError } from '../../common/errors.ts';
import { runTool, spawnTool } from '../../common/exec.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { debDataEntries } from '../inputs/deb.ts';

// A kernel built from source: the boot image, the final .config, the release string and how long the build took.
export interface SourceKernel {
  bzImage: Buffer;
  config: string;
  version: string;
  seconds: number;
}

// What buildKernelFromSource needs: the linux-source .deb, the fragment folder and a scratch folder it may fill.
export interface SourceBuildOptions {
  sourceDeb: Buffer;
  sourceLabel: string;
  configDir: string;
  workDir: string;
  jobs?: number;
  // Seconds since 1970 that become the kernel's build timestamp (`uname -v`).
  sourceDateEpoch?: number;
  onLine?: (line: string) => void;
}

// One option a fragment sets: its value as .config spells it ('n' for `# CONFIG_X is not set`) and the fragment that
// set it.
export interface FragmentOption {
  value: string;
  fragment: string;
}

// Bumped whenever the build steps change what comes out for the same inputs.
const FORMAT = 'mvos-kernel-source/1';
const NOT_SET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;
const ASSIGNMENT = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;

// The cache key of a source-built kernel: the source package, the base config, every fragment by name and content, and
// what else lands in the bytes.
export function kernelSourceKey(
  sourceDebSha256: string,
  fragments: Map<string, string>,
  base: 'tinyconfig',
  extra: { sourceDateEpoch?: number; toolchain?: string } = {},
): string {
  const sorted = [...fragments.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const material = {
    format: FORMAT,
    source: sourceDebSha256,
    base,
    fragments: sorted,
    sourceDateEpoch: extra.sourceDateEpoch ?? 0,
    toolchain: extra.toolchain ?? '',
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex');
}

// Reads every *.config fragment of a kernel-config/<name>/ folder, by file name; a folder with an `extends` file (one
// line: a sibling folder's name) starts from that folder's fragments, named `<sibling>.<file>`, and adds its own.
export async function readConfigFragments(
  configDir: string,
  seen: readonly string[] = [],
): Promise<Map<string, string>> {
  const names = existsSync(configDir) ? (await readdir(configDir)).filter((n) => n.endsWith('.config')).sort() : [];
  if (names.length === 0)
    throw new UserError(`${configDir} holds no *.config fragments`, {
      hint: 'a guest kernel folder needs at least one fragment such as base.config',
    });
  const fragments = new Map<string, string>();
  const extendsFile = join(configDir, 'extends');
  if (existsSync(extendsFile)) {
    const parent = (await readFile(extendsFile, 'utf8')).trim();
    if (!/^[a-z0-9][a-z0-9-]*$/.test(parent) || seen.includes(parent))
      throw new UserError(`${extendsFile}: "${parent}" is not a kernel-config folder this one can extend`, {
        hint: 'write the name of a sibling folder, like guest-tiny, and no cycle',
      });
    const parentDir = join(dirname(configDir), parent);
    for (const [name, text] of await readConfigFragments(parentDir, [...seen, basename(configDir)]))
      fragments.set(`${parent}.${name}`, text);
  }
  for (const name of names) fragments.set(name, await readFile(join(configDir, name), 'utf8'));
  return fragments;
}

// The compiler and linker versions, which the kernel writes into its banner: part of the cache key.
export async function kernelToolchain(): Promise<string> {
  const first = async (tool: string) => (await runTool(tool, ['--version'])).stdout.split('\n')[0]!.trim();
  return `${await first('gcc')}; ${await first('ld')}`;
}

// Every option the fragments set, in fragment order; two fragments that disagree on an option are a UserError.
export function fragmentOptions(fragments: Map<string, string>): Map<string, FragmentOption> {
  const options = new Map<string, FragmentOption>();
  for (const [fragment, text] of fragments) {
    for (const [option, value] of parseKconfig(text)) {
      const earlier = options.get(option);
      if (earlier && earlier.value !== value) {
        throw new UserError(
          `kernel config fragments disagree on ${option}: ${earlier.fragment} sets ${earlier.value}, ${fragment} sets ${value}`,
          {
            hint: 'set each option in one fragment only',
          },
        );
      }
      options.set(option, { value, fragment });
    }
  }
  return options;
}

// The options a .config (or fragment) sets, `# CONFIG_X is not set` read as 'n'.
export function parseKconfig(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const line of text.split('\n').map((l) => l.trim())) {
    const unset = NOT_SET.exec(line);
    if (unset) options.set(unset[1]!, 'n');
    const set = ASSIGNMENT.exec(line);
    if (set) options.set(set[1]!, set[2]!);
  }
  return options;
}

// Fails naming every fragment option the final .config does not carry: Kconfig drops an option silently when its
// dependencies are off.
export function verifyFragments(fragments: Map<string, string>, finalConfig: string): void {
  const final = parseKconfig(finalConfig);
  const lost = [...fragmentOptions(fragments)]
    .filter(([option, { value }]) => (final.get(option) ?? 'n') !== value)
    .map(
      ([option, { value, fragment }]) =>
        `${fragment}: ${option}=${value} became ${final.has(option) ? final.get(option) : 'absent'}`,
    );
  if (lost.length > 0) {
    throw new FailureError(
      `the kernel configuration lost ${lost.length} fragment option${lost.length === 1 ? '' : 's'}:\n  ${lost.join('\n  ')}`,
      {
        hint:
          'an option set to y needs its dependencies on too (look it up with `make menuconfig`, `/` search); ' +
          'one set to n is still selected by another option',
      },
    );
  }
}

// Extracts the source tarball, configures tinyconfig + fragments, checks them and builds bzImage in
// <workDir>/linux-source-<series>.
export async function buildKernelFromSource(options: SourceBuildOptions): Promise<SourceKernel> {
  const started = Date.now();
  const fragments = await readConfigFragments(options.configDir);
  await mkdir(options.workDir, { recursive: true });
  const tarball = await sourceTarball(options.sourceDeb, options.sourceLabel);
  const tree = join(options.workDir, tarball.dir);
  await rm(tree, { recursive: true, force: true });
  const tarPath = join(options.workDir, tarball.name);
  await writeFile(tarPath, tarball.content);
  await runTool('tar', ['-xf', tarball.name], { cwd: options.workDir });
  await rm(tarPath);
  if (!existsSync(join(tree, 'Makefile')))
    throw new FailureError(`${options.sourceLabel}: ${tarball.name} does not unpack to ${tarball.dir}/`);

  const fragmentDir = join(options.workDir, 'fragments');
  await rm(fragmentDir, { recursive: true, force: true });
  await mkdir(fragmentDir);
  for (const [name, text] of fragments) await writeFile(join(fragmentDir, name), text);

  const env = buildEnvironment(options.sourceDateEpoch ?? 0, tree);
  const run = (file: string, args: string[]) => streamTool(file, args, tree, env, options.onLine);
  await run('make', ['tinyconfig']);
  await run('sh', [
    'scripts/kconfig/merge_config.sh',
    '-m',
    '.config',
    ...[...fragments.keys()].map((n) => join('..', 'fragments', n)),
  ]);
  await run('make', ['olddefconfig']);
  const config = await readFile(join(tree, '.config'), 'utf8');
  verifyFragments(fragments, config);
  await run('make', [`-j${options.jobs ?? availableParallelism()}`, 'bzImage']);
  const version = (await readFile(join(tree, 'include', 'config', 'kernel.release'), 'utf8')).trim();
  return {
    bzImage: await readFile(join(tree, 'arch', 'x86', 'boot', 'bzImage')),
    config,
    version,
    seconds: (Date.now() - started) / 1000,
  };
}

// Returns the kernel stored under key, or builds it once and stores bzImage and config in the cache under that key.
export async function cachedKernelFromSource(
  cache: ContentCache,
  key: string,
  build: () => Promise<SourceKernel>,
): Promise<SourceKernel & { cached: boolean }> {
  const index = await cache.getKey(key);
  if (index !== undefined) {
    const stored = JSON.parse((await cache.read(index, 'source kernel index')).toString('utf8')) as StoredKernel;
    if (stored.format === FORMAT && cache.has(stored.bzImage) && cache.has(stored.config)) {
      return {
        bzImage: await cache.read(stored.bzImage, `bzImage ${stored.version}`),
        config: (await cache.read(stored.config, `config ${stored.version}`)).toString('utf8'),
        version: stored.version,
        seconds: stored.seconds,
        cached: true,
      };
    }
  }
  const kernel = await build();
  const stored: StoredKernel = {
    format: FORMAT,
    bzImage: (await cache.putBuffer(kernel.bzImage, { label: `bzImage ${kernel.version}` })).sha256,
    config: (await cache.putBuffer(Buffer.from(kernel.config), { label: `config ${kernel.version}` })).sha256,
    version: kernel.version,
    seconds: kernel.seconds,
  };
  const written = await cache.putBuffer(Buffer.from(JSON.stringify(stored)), { label: 'source kernel index' });
  await cache.setKey(key, written.sha256);
  return { ...kernel, cached: false };
}

interface StoredKernel {
  format: string;
  bzImage: string;
  config: string;
  version: string;
  seconds: number;
}

async function sourceTarball(deb: Buffer, label: string): Promise<{ name: string; dir: string; content: Buffer }> {
  for await (const { header, content } of debDataEntries(deb, label)) {
    const match = /^usr\/src\/((linux-source-[\d.]+)\.tar\.(xz|bz2|gz|zst))$/.exec(header.name);
    if (match && header.type === 'file') return { name: match[1]!, dir: match[2]!, content };
  }
  throw new FailureError(`${label} has no usr/src/linux-source-<version>.tar.*: it is not a linux-source package`, {
    hint: "request linux-source (the suite's current kernel source) or a linux-source-<version> package",
  });
}

// Only what the build needs from the host goes in: anything else in the environment (ARCH, KCFLAGS, O, LANG...) could
// change the bytes.
function buildEnvironment(sourceDateEpoch: number, tree: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: tree,
    LC_ALL: 'C',
    TZ: 'UTC',
    ARCH: 'x86_64',
    SOURCE_DATE_EPOCH: String(sourceDateEpoch),
    KBUILD_BUILD_TIMESTAMP: buildTimestamp(sourceDateEpoch),
    KBUILD_BUILD_USER: 'mvos',
    KBUILD_BUILD_HOST: 'mvos',
    // A fresh tree counts links from 1, a rerun in the same tree would not.
    KBUILD_BUILD_VERSION: '1',
    // Set but empty: setlocalversion adds no "+" even when the tree sits inside a git checkout.
    LOCALVERSION: '',
    // Paths are relative in an in-tree build; this keeps the absolute work folder out should any tool see it.
    KCFLAGS: `-ffile-prefix-map=${tree}/=`,
  };
}

// The `date` format Kbuild shows in `uname -v`, in UTC.
function buildTimestamp(epoch: number): string {
  const d = new Date(epoch * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} UTC ${d.getUTCFullYear()}`;
}

async function streamTool(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  onLine?: (line: string) => void,
): Promise<void> {
  const child = spawnTool(file, args, { cwd, env, extendEnv: false, all: true, reject: false });
  const tail: string[] = [];
  for await (const line of createInterface({ input: child.all! })) {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    onLine?.(line);
  }
  const result = await child;
  if (result.failed) {
    const why =
      result.exitCode !== undefined
        ? `exited with ${result.exitCode}`
        : result.signal
          ? `was killed by ${result.signal}`
          : (result.originalMessage ?? 'could not start');
    throw new FailureError(`${file} ${args.join(' ')} (in ${cwd}): ${why}\n${tail.join('\n')}`.trim(), {
      cause: result,
      hint:
        result.code === 'ENOENT'
          ? `${file} is not installed: run \`./mvos doctor\``
          : 'the kernel build tools may be missing: run `./mvos doctor`',
    });
  }
}
