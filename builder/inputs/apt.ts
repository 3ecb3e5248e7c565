// Package sources from the build machine's own apt: names → exact pins, and pins → .deb bytes.
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { FailureError, type Problem, UserError } from '../../common/errors.ts';
import { runTool, type ToolResult } from '../../common/exec.ts';

// One Debian package fixed to the exact file that goes into an image.
export interface PackagePin {
  name: string;
  version: string;
  arch: string;
  sha256: string;
  size: number;
  filename: string;
}

// A private apt environment: the machine's sources, keyrings and preferences, but its own empty dpkg status and caches.
export interface AptContext {
  root: string;
  statusFile: string;
  listsDir: string;
  usesSystemLists: boolean;
  sources?: string;
  systemArchives: string;
  aptArgs: readonly string[];
  env: Record<string, string>;
}

const ARCH = 'amd64';
const RESOLVE_TIMEOUT_MS = 180_000;
const NETWORK_TIMEOUT_MS = 600_000;

// Hooks the machine's apt.conf.d hangs on update/dpkg runs act on the system; none may run from a private context.
const CLEARED_HOOKS = [
  'APT::Update::Pre-Invoke',
  'APT::Update::Post-Invoke',
  'APT::Update::Post-Invoke-Success',
  'DPkg::Pre-Invoke',
  'DPkg::Post-Invoke',
  'DPkg::Pre-Install-Pkgs',
];

// Debian package names, an optional :arch and an optional =version; anything else apt would read as a glob, regex or
// option.
const REQUEST = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?(?:=([A-Za-z0-9.+~:-]+))?$/;

// Sets up the private apt directory under workDir and, when no usable indexes exist yet, downloads them with apt-get
// update.
export async function createAptContext(options: {
  workDir: string;
  aptSources?: string;
  update?: boolean;
  offline?: boolean;
  keep?: readonly PackagePin[];
}): Promise<AptContext> {
  const root = resolve(options.workDir);
  const sources = options.aptSources === undefined ? undefined : resolve(options.aptSources);
  if (sources !== undefined && !(await isFile(sources))) {
    throw new UserError(`apt sources file not found: ${sources}`, {
      hint: 'give a sources.list-style file (one-line `deb …` entries) or a deb822 `.sources` file',
    });
  }
  const statusFile = join(root, 'state', 'status');
  const privateLists = join(root, 'lists');
  const emptyParts = join(root, 'sources.list.d');
  for (const dir of [
    join(root, 'state'),
    join(privateLists, 'partial'),
    join(root, 'cache', 'archives', 'partial'),
    emptyParts,
  ]) {
    await mkdir(dir, { recursive: true });
  }
  // An empty status file: resolution answers "what would an empty system need", whatever this machine has installed.
  await writeFile(statusFile, '');
  const confFile = join(root, 'apt.conf');
  await writeFile(confFile, CLEARED_HOOKS.map((key) => `#clear ${key};\n`).join(''));

  const preferencesDir = join(root, 'preferences.d');
  await writePreferences(preferencesDir, options.keep ?? []);

  const env = { LC_ALL: 'C', LANG: 'C', LANGUAGE: '' };
  const system = await systemAptDirs(env);
  const systemListsUsable = sources === undefined && options.update !== true && (await hasIndexes(system.lists));
  const listsDir = systemListsUsable ? system.lists : privateLists;

  const aptArgs = [
    '-c',
    confFile,
    '-o',
    `Dir::State=${join(root, 'state')}`,
    '-o',
    `Dir::State::status=${statusFile}`,
    '-o',
    `Dir::State::lists=${listsDir}`,
    '-o',
    `Dir::Cache=${join(root, 'cache')}`,
    // The machine may disable the binary cache (docker images do); a private one saves re-parsing every index per call.
    '-o',
    'Dir::Cache::pkgcache=pkgcache.bin',
    '-o',
    'Dir::Cache::srcpkgcache=srcpkgcache.bin',
    '-o',
    `APT::Architecture=${ARCH}`,
    '-o',
    `APT::Architectures=${ARCH}`,
    '-o',
    'APT::Install-Recommends=false',
    '-o',
    'APT::Install-Suggests=false',
    '-o',
    'APT::Sandbox::User=root',
    '-o',
    'Debug::NoLocking=1',
    '-o',
    `Dir::Etc::preferencesparts=${preferencesDir}`,
    ...(sources === undefined
      ? []
      : ['-o', `Dir::Etc::sourcelist=${sources}`, '-o', `Dir::Etc::sourceparts=${emptyParts}`]),
  ];
  const ctx: AptContext = {
    root,
    statusFile,
    listsDir,
    usesSystemLists: systemListsUsable,
    sources,
    systemArchives: system.archives,
    aptArgs,
    env,
  };
  if (!systemListsUsable && (options.update === true || !(await hasIndexes(privateLists)))) {
    if (options.update === false) {
      throw new UserError('no apt package indexes to resolve against', {
        hint: 'allow an index update (drop the no-update option), or run `apt-get update` on this machine',
      });
    }
    if (options.offline) {
      throw new FailureError('reading the apt package indexes would need a download but --offline is set', {
        hint: 'run once without --offline (or `apt-get update` on this machine) to fetch the indexes',
      });
    }
    await apt(ctx, 'apt-get', ['-q', 'update'], { timeoutMs: NETWORK_TIMEOUT_MS }).catch((cause: unknown) => {
      throw new FailureError('apt-get update failed for the private apt context', {
        cause,
        hint: `check the apt sources (${sources ?? "this machine's /etc/apt/sources.list*"}) and the network; details: ${messageOf(cause)}`,
      });
    });
  }
  return ctx;
}

// Resolves names (optionally `name=version`) to pins: with dependencies, the closure apt would install on an empty
// system.
export async function resolvePackages(
  ctx: AptContext,
  names: string[],
  options: { withDependencies: boolean },
): Promise<PackagePin[]> {
  const requests = parseRequests(names);
  if (requests.length === 0) return [];
  const located = options.withDependencies ? await closureUris(ctx, requests) : await candidateUris(ctx, requests);
  const pins = await pinsFor(ctx, located);
  return pins.sort((a, b) => compare(a.name, b.name) || compare(a.arch, b.arch) || compare(a.version, b.version));
}

// Hands a read stream of exactly the pinned .deb to sink: from the machine's apt cache when there, else downloaded by
// apt.
export async function fetchPackage(
  ctx: AptContext,
  pin: PackagePin,
  sink: (stream: NodeJS.ReadableStream | Readable) => Promise<void>,
  options: { offline?: boolean } = {},
): Promise<void> {
  const cached = join(ctx.systemArchives, archiveName(pin));
  if ((await sizeOf(cached)) === pin.size) {
    await streamTo(cached, sink);
    return;
  }
  if (options.offline) {
    throw new FailureError(`${pin.name} ${pin.version} would need a download but --offline is set`, {
      hint: 'run once without --offline to fill the cache, or put the .deb in the apt archive cache',
    });
  }
  await mkdir(join(ctx.root, 'downloads'), { recursive: true });
  const dir = await mkdtemp(join(ctx.root, 'downloads', 'fetch-'));
  try {
    const result = await apt(ctx, 'apt-get', ['-qq', 'download', `${pin.name}=${pin.version}`], {
      cwd: dir,
      timeoutMs: NETWORK_TIMEOUT_MS,
      allowFailure: true,
    });
    const debs = (await readdir(dir)).filter((file) => file.endsWith('.deb'));
    if (result.exitCode !== 0 || debs.length !== 1) {
      throw new FailureError(`could not download ${pin.name} ${pin.version} (${pin.filename})`, {
        hint: `the apt indexes may no longer list this version: refresh them with \`apt-get update\`, or re-lock to a current version; apt said: ${result.stderr.trim() || 'nothing'}`,
      });
    }
    const file = join(dir, debs[0]!);
    const size = await sizeOf(file);
    if (size !== pin.size) {
      throw new FailureError(`downloaded ${pin.name} ${pin.version} is ${size} bytes, the pin says ${pin.size}`, {
        hint: 'the archive serves a different file under this version: re-lock the package',
      });
    }
    await streamTo(file, sink);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Keeps locked versions where apt can still choose them: a pin per package at priority 1001, beside the machine's own
// preferences.
async function writePreferences(dir: string, keep: readonly PackagePin[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const name of await readdir('/etc/apt/preferences.d').catch(() => [] as string[])) {
    if (/^[A-Za-z0-9_.-]+$/.test(name) && (name.endsWith('.pref') || !name.includes('.'))) {
      await copyFile(join('/etc/apt/preferences.d', name), join(dir, name));
    }
  }
  const stanzas = [...keep]
    .sort((a, b) => compare(a.name, b.name))
    .map((pin) => `Package: ${pin.name}\nPin: version ${pin.version}\nPin-Priority: 1001\n`);
  if (stanzas.length > 0) await writeFile(join(dir, 'zz-mvos-lock.pref'), stanzas.join('\n'));
}

interface Request {
  spec: string;
  name: string;
  version?: string;
}

interface Located {
  uri: string;
  name: string;
  version: string;
  arch: string;
  size: number;
}

function parseRequests(names: string[]): Request[] {
  const problems: Problem[] = [];
  const requests: Request[] = [];
  for (const spec of names) {
    const match = REQUEST.exec(spec);
    if (!match) {
      problems.push({
        message: `not a Debian package name: ${JSON.stringify(spec)}`,
        hint: 'use `name` or `name=version`',
      });
      continue;
    }
    requests.push({ spec, name: match[1]!, version: match[3] });
  }
  if (problems.length > 0) {
    throw new UserError(problems.map((p) => p.message).join('; '), { problems, hint: problems[0]?.hint });
  }
  return [...new Map(requests.map((r) => [r.spec, r])).values()];
}

async function closureUris(ctx: AptContext, requests: Request[]): Promise<Located[]> {
  const result = await apt(
    ctx,
    'apt-get',
    // -q, not -qq: on a conflict apt explains the unmet dependencies only at this verbosity.
    ['-q', '-y', '--no-install-recommends', '--print-uris', 'install', ...requests.map((r) => r.spec)],
    { allowFailure: true },
  );
  if (result.exitCode !== 0) await throwResolveError(ctx, result, requests);
  return parseUriLines(result.stdout);
}

async function candidateUris(ctx: AptContext, requests: Request[]): Promise<Located[]> {
  const result = await apt(ctx, 'apt-get', ['-qq', '--print-uris', 'download', ...requests.map((r) => r.spec)], {
    allowFailure: true,
  });
  if (result.exitCode === 0) return parseUriLines(result.stdout);
  // apt-get download does not follow virtual names; a virtual with exactly one provider stands for that provider.
  const failed = new Set(noCandidateNames(result.stderr));
  const located: Located[] = [];
  const plain: Request[] = [];
  for (const request of requests) {
    const providers = failed.has(request.name) && !request.version ? await providersOf(ctx, request.name) : [];
    if (providers.length === 1) {
      located.push(...(await candidateUris(ctx, [{ spec: providers[0]!, name: providers[0]! }])));
    } else {
      plain.push(request);
    }
  }
  if (located.length === 0) return throwResolveError(ctx, result, requests);
  if (plain.length === 0) return located;
  const rest = await apt(ctx, 'apt-get', ['-qq', '--print-uris', 'download', ...plain.map((r) => r.spec)], {
    allowFailure: true,
  });
  if (rest.exitCode !== 0) await throwResolveError(ctx, rest, plain);
  return [...located, ...parseUriLines(rest.stdout)];
}

// Turns apt's refusal into a UserError naming every package it could not place.
async function throwResolveError(ctx: AptContext, result: ToolResult, requests: Request[]): Promise<never> {
  const problems: Problem[] = [];
  for (const line of result.stderr.split('\n')) {
    const unknown = /^E: Unable to locate package (.+)$/.exec(line);
    const noVersion = /^E: Version '(.+)' for '(.+)' was not found$/.exec(line);
    const noCandidate =
      /^E: Package '(.+)' has no installation candidate$/.exec(line) ??
      /^E: Can't select candidate version from package (.+) as it has no candidate$/.exec(line);
    if (unknown) {
      problems.push(unknownProblem(unknown[1]!));
    } else if (noVersion) {
      problems.push({
        message: `${noVersion[2]} has no version ${noVersion[1]} in the apt indexes`,
        hint: `list the versions apt knows with \`apt-cache policy ${noVersion[2]}\`; if the version is new, run \`apt-get update\``,
      });
    } else if (noCandidate) {
      problems.push(await noCandidateProblem(ctx, noCandidate[1]!));
    }
  }
  if (problems.length > 0) {
    const message =
      problems.length === 1
        ? problems[0]!.message
        : `${problems.length} packages cannot be resolved: ${problems.map((p) => p.message).join('; ')}`;
    throw new UserError(message, { problems, hint: problems[0]?.hint });
  }
  const unmet = /^The following packages have unmet dependencies:\n([\s\S]*)$/m.exec(result.stdout)?.[1]?.trimEnd();
  if (unmet !== undefined || /held broken packages/.test(result.stderr)) {
    throw new UserError(`apt cannot install ${requests.map((r) => r.spec).join(' ')} together: unmet dependencies`, {
      hint: `loosen or change the pinned versions; apt said:\n${unmet ?? result.stderr.trim()}`,
    });
  }
  throw new FailureError(`apt-get could not resolve ${requests.map((r) => r.spec).join(' ')}`, {
    hint: `${result.stdout}\n${result.stderr}`.trim() || undefined,
  });
}

function unknownProblem(name: string): Problem {
  return {
    message: `unknown package: ${name}`,
    hint: `look for the right name with \`apt-cache search ${name}\`; if the package is new, run \`apt-get update\``,
  };
}

async function noCandidateProblem(ctx: AptContext, name: string): Promise<Problem> {
  const providers = await providersOf(ctx, name);
  if (providers.length > 0) {
    return {
      message: `${name} is a virtual package provided by ${providers.join(', ')}`,
      hint: `name one of the providers instead of ${name}`,
    };
  }
  return unknownProblem(name);
}

function noCandidateNames(stderr: string): string[] {
  return [...stderr.matchAll(/^E: Can't select candidate version from package (\S+) as it has no candidate$/gm)].map(
    (m) => m[1]!,
  );
}

async function providersOf(ctx: AptContext, name: string): Promise<string[]> {
  const result = await apt(ctx, 'apt-cache', ['showpkg', name], { allowFailure: true });
  const section = result.stdout.split(/^Reverse Provides: *$/m)[1] ?? '';
  const names = section
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((provider) => provider !== '');
  return [...new Set(names)].sort(compare);
}

// Lines of `--print-uris`: 'URI' name_version_arch.deb size [hash] (the hash is whichever apt prefers, not always
// SHA256).
function parseUriLines(stdout: string): Located[] {
  const located: Located[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^'([^']+)' (\S+)_(\S+)_(\S+)\.deb (\d+)(?: \S*)?\s*$/.exec(line);
    if (!match) continue;
    located.push({
      uri: unquote(match[1]!),
      name: unquote(match[2]!),
      version: unquote(match[3]!),
      arch: unquote(match[4]!),
      size: Number(match[5]),
    });
  }
  return located;
}

// Takes version, arch, pool filename and SHA256 from the index record that backs each URI apt chose.
async function pinsFor(ctx: AptContext, located: Located[]): Promise<PackagePin[]> {
  const unique = [...new Map(located.map((l) => [`${l.name}_${l.version}_${l.arch}`, l])).values()];
  if (unique.length === 0) return [];
  const queries = [...new Set(unique.map((l) => `${l.name}=${l.version}`))];
  const shown = await apt(ctx, 'apt-cache', ['show', ...queries]);
  const records = parseStanzas(shown.stdout);
  return unique.map((l) => {
    const record = records.find(
      (r) =>
        r.get('Package') === l.name &&
        r.get('Version') === l.version &&
        r.get('Architecture') === l.arch &&
        Number(r.get('Size')) === l.size &&
        l.uri.endsWith(`/${r.get('Filename') ?? '\0'}`),
    );
    const sha256 = record?.get('SHA256') ?? '';
    if (!record || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw new FailureError(`no index record with a SHA256 for ${l.name} ${l.version} (${l.uri})`, {
        hint:
          'the repository must publish SHA256 sums in its Packages index; refresh the indexes with `apt-get ' +
          'update`',
      });
    }
    return { name: l.name, version: l.version, arch: l.arch, sha256, size: l.size, filename: record.get('Filename')! };
  });
}

function parseStanzas(text: string): Map<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      let last: string | undefined;
      for (const line of block.split('\n')) {
        if (/^\s/.test(line) && last !== undefined) {
          fields.set(last, `${fields.get(last)}\n${line}`);
          continue;
        }
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        last = line.slice(0, colon);
        fields.set(last, line.slice(colon + 1).trim());
      }
      return fields;
    })
    .filter((fields) => fields.has('Package'));
}

// apt's archive cache names files name_version_arch.deb with the epoch colon written as %3a.
function archiveName(pin: PackagePin): string {
  return `${pin.name}_${pin.version.replaceAll(':', '%3a')}_${pin.arch}.deb`;
}

function unquote(text: string): string {
  return text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

async function streamTo(
  file: string,
  sink: (stream: NodeJS.ReadableStream | Readable) => Promise<void>,
): Promise<void> {
  const stream = createReadStream(file);
  try {
    await sink(stream);
  } finally {
    stream.destroy();
  }
}

async function apt(
  ctx: AptContext,
  tool: 'apt-get' | 'apt-cache',
  args: string[],
  options: { cwd?: string; timeoutMs?: number; allowFailure?: boolean } = {},
): Promise<ToolResult> {
  return runTool(tool, [...ctx.aptArgs, ...args], {
    env: ctx.env,
    cwd: options.cwd ?? ctx.root,
    timeoutMs: options.timeoutMs ?? RESOLVE_TIMEOUT_MS,
    allowFailure: options.allowFailure,
  });
}

// Where this machine's apt keeps its indexes and downloaded .debs, as its own configuration says.
async function systemAptDirs(env: Record<string, string>): Promise<{ lists: string; archives: string }> {
  const result = await runTool(
    'apt-config',
    ['shell', 'LISTS', 'Dir::State::lists/d', 'ARCHIVES', 'Dir::Cache::archives/d'],
    {
      env,
      timeoutMs: RESOLVE_TIMEOUT_MS,
    },
  );
  const value = (key: string, fallback: string): string =>
    new RegExp(`^${key}='([^']*)'`, 'm').exec(result.stdout)?.[1] || fallback;
  return {
    lists: value('LISTS', '/var/lib/apt/lists/'),
    archives: value('ARCHIVES', '/var/cache/apt/archives/'),
  };
}

async function hasIndexes(listsDir: string): Promise<boolean> {
  const files = await readdir(listsDir).catch(() => [] as string[]);
  return files.some((file) => /_Packages(\.[a-z0-9]+)?$/.test(file));
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function sizeOf(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.size;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
