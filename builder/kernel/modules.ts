// A kernel's module subset: what each module declares in its .modinfo, the closure of a wanted list, and the index
// files depmod writes for it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FailureError, UserError } from '../../common/errors.ts';
import { runTool, spawnTool } from '../../common/exec.ts';
import { decompressXzBatch } from './xz-batch.ts';

// What a module says about itself in its .modinfo section (names normalised to underscores).
export interface ModuleInfo {
  name: string;
  depends: string[];
  softdepPre?: string[];
}

// The modules a guest or host image carries: files relative to lib/modules/<version>/ (modules plus depmod's indexes).
export interface ModuleSelection {
  files: Map<string, Buffer>;
  loadOrder: string[];
  builtin: string[];
}

// A kernel's module tree as extractDebianKernel returns it.
export interface KernelModules {
  version: string;
  modules: Map<string, Buffer>;
}

const MODULE_FILE = /\.ko(\.xz|\.zst|\.gz)?$/;
// Inputs depmod reads besides the modules themselves; modules.order is cut down to the selection.
const INDEX_INPUTS = ['modules.builtin', 'modules.builtin.modinfo'];

// Module names are compared the way kmod does: '-' and '_' are the same character.
export function normaliseModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

// Parses the NUL-separated key=value pairs of an ELF module's .modinfo section.
export function moduleInfo(ko: Buffer): ModuleInfo {
  const fields = modinfoFields(ko);
  const name = fields.get('name')?.[0];
  if (!name) throw new FailureError('kernel module has no name= in its .modinfo section');
  const depends = (fields.get('depends') ?? [])
    .flatMap((d) => d.split(','))
    .filter(Boolean)
    .map(normaliseModuleName);
  const pre = (fields.get('softdep') ?? []).flatMap(softdepPre);
  return pre.length > 0
    ? { name: normaliseModuleName(name), depends, softdepPre: pre }
    : { name: normaliseModuleName(name), depends };
}

// The wanted modules (names or aliases) and their dependency closure, load order dependencies first, with depmod's
// indexes regenerated for exactly that set.
export async function selectModules(kernel: KernelModules, wanted: string[]): Promise<ModuleSelection> {
  const byName = new Map<string, string>();
  for (const path of kernel.modules.keys()) {
    if (MODULE_FILE.test(path)) byName.set(normaliseModuleName(basename(path).replace(MODULE_FILE, '')), path);
  }
  const builtins = new Set(
    (kernel.modules.get('modules.builtin')?.toString('utf8') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line) => normaliseModuleName(basename(line).replace(MODULE_FILE, ''))),
  );
  // Each module's ELF, decompressed once: the closure, the alias index and the selection all read it.
  const elves = new Map<string, Promise<Buffer>>();
  const elfOf = (path: string): Promise<Buffer> => {
    const known = elves.get(path);
    if (known) return known;
    const elf = moduleElf(path, kernel.modules.get(path)!);
    elves.set(path, elf);
    return elf;
  };
  // The alias index reads every module: one xz process for all of them, not one each (thousands of spawns took 52 s of
  // a cold build here). A module the batch cannot size is decompressed on its own, as before.
  const decompressAll = async (paths: string[]): Promise<void> => {
    const xz = paths.filter((path) => path.endsWith('.ko.xz') && !elves.has(path));
    const batch = await decompressXzBatch(xz.map((path) => kernel.modules.get(path)!));
    if (batch) for (const [i, path] of xz.entries()) elves.set(path, Promise.resolve(batch[i]!));
  };
  let aliases: Map<string, string[]> | undefined;
  // A name is a module, a built-in, or an alias (modprobe's softdeps name aliases such as crypto-crc32c); builtin
  // providers win, as in modprobe.
  const resolve = async (name: string): Promise<string[] | 'builtin' | undefined> => {
    if (builtins.has(name)) return 'builtin';
    if (byName.has(name)) return [name];
    if (!aliases) {
      await decompressAll([...byName.values()]);
      aliases = await aliasIndex(kernel, byName, elfOf);
    }
    const providers = aliases.get(name);
    if (providers === undefined) return undefined;
    return providers.some((p) => builtins.has(p)) ? 'builtin' : providers;
  };

  const names = wanted.map(normaliseModuleName);
  const resolved = new Map<string, string[] | 'builtin' | undefined>();
  for (const name of names) resolved.set(name, await resolve(name));
  const unknown = names.filter((n) => resolved.get(n) === undefined);
  if (unknown.length > 0) {
    const known = [...byName.keys(), ...builtins];
    throw new UserError(`kernel ${kernel.version} has no module named ${unknown.join(', ')}`, {
      hint: unknown
        .map((n) => `${n}: did you mean ${closestNames(n, known).join(', ') || '(nothing close)'}?`)
        .join('; '),
    });
  }

  const loadOrder: string[] = [];
  const visiting = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    if (loadOrder.includes(name) || visiting.has(name)) return;
    const path = byName.get(name)!;
    visiting.add(name);
    const info = moduleInfo(await elfOf(path));
    // Soft dependencies are optional: modprobe loads them when the kernel has them.
    for (const pre of info.softdepPre ?? []) {
      const providers = await resolve(pre);
      if (Array.isArray(providers)) for (const p of providers) await visit(p);
    }
    for (const dep of info.depends) {
      const providers = await resolve(dep);
      if (providers === undefined)
        throw new FailureError(
          `kernel ${kernel.version}: module ${name} depends on ${dep}, which the package does not hold`,
        );
      if (Array.isArray(providers)) for (const p of providers) await visit(p);
    }
    visiting.delete(name);
    loadOrder.push(name);
  };
  for (const name of names) {
    const providers = resolved.get(name);
    if (Array.isArray(providers)) for (const p of providers) await visit(p);
  }

  const selected = new Map<string, Buffer>();
  // Each module is carried decompressed (kvm.ko, not kvm.ko.xz): the initramfs compresses its segment as a whole, and
  // busybox's modprobe decompressing 45 xz modules at boot took 4.8 s of a TCG host boot.
  for (const name of loadOrder) {
    const path = byName.get(name)!;
    selected.set(path.replace(MODULE_FILE, '.ko'), await elfOf(path));
  }
  for (const index of INDEX_INPUTS) {
    const content = kernel.modules.get(index);
    if (content) selected.set(index, content);
  }
  const order = kernel.modules.get('modules.order')?.toString('utf8');
  if (order !== undefined) {
    const kept = new Set(selected.keys());
    const lines = order
      .split('\n')
      .map((line) => line.replace(MODULE_FILE, '.ko'))
      .filter((line) => kept.has(line));
    selected.set('modules.order', Buffer.from(lines.map((l) => `${l}\n`).join('')));
  }
  return {
    files: await runDepmod(kernel.version, selected),
    loadOrder,
    builtin: [...new Set(names.filter((n) => resolved.get(n) === 'builtin'))],
  };
}

// Stages the files under <tmp>/lib/modules/<version>/, runs the real depmod over them and returns the tree it leaves
// (inputs plus indexes).
export async function runDepmod(version: string, files: Map<string, Buffer>): Promise<Map<string, Buffer>> {
  const base = await mkdtemp(join(tmpdir(), 'mvos-depmod-'));
  try {
    const root = join(base, 'lib', 'modules', version);
    for (const [path, content] of files) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    // An empty config directory keeps the host's /etc/depmod.d (search paths, overrides) out of the result.
    await mkdir(join(base, 'depmod.d'));
    await runTool(depmodPath(), ['-b', base, '-C', join(base, 'depmod.d'), version]);
    const out = new Map<string, Buffer>();
    for (const path of await listFiles(root)) out.set(relative(root, path), await readFile(path));
    return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

// depmod lives in /sbin, which is not on an ordinary user's PATH.
function depmodPath(): string {
  return ['/usr/sbin/depmod', '/sbin/depmod'].find((p) => existsSync(p)) ?? 'depmod';
}

async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

// Every alias a module or built-in declares, normalised like a name; built only when a name is neither a module nor a
// built-in.
async function aliasIndex(
  kernel: KernelModules,
  byName: Map<string, string>,
  elfOf: (path: string) => Promise<Buffer>,
): Promise<Map<string, string[]>> {
  const index = new Map<string, string[]>();
  const add = (alias: string, module: string) => {
    const key = normaliseModuleName(alias);
    if (!index.get(key)?.includes(module)) index.set(key, [...(index.get(key) ?? []), module].sort());
  };
  for (const [name, path] of byName) {
    for (const alias of modinfoFields(await elfOf(path)).get('alias') ?? []) add(alias, name);
  }
  // modules.builtin.modinfo holds `<module>.<key>=<value>` records, NUL-separated.
  for (const record of (kernel.modules.get('modules.builtin.modinfo')?.toString('utf8') ?? '').split('\0')) {
    const match = /^([^.=]+)\.alias=(.+)$/.exec(record);
    if (match) add(match[2]!, normaliseModuleName(match[1]!));
  }
  return index;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function softdepPre(value: string): string[] {
  const pre: string[] = [];
  let inPre = false;
  for (const word of value.split(/\s+/).filter(Boolean)) {
    if (word.endsWith(':')) inPre = word === 'pre:';
    else if (inPre) pre.push(normaliseModuleName(word));
  }
  return pre;
}

async function moduleElf(path: string, content: Buffer): Promise<Buffer> {
  if (path.endsWith('.ko')) return content;
  if (path.endsWith('.ko.gz')) return gunzipSync(content);
  const tool = path.endsWith('.ko.xz') ? 'xz' : 'zstd';
  const child = spawnTool(tool, ['-dc'], { input: content });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  try {
    await child;
  } catch (error) {
    throw new FailureError(`${tool} could not decompress the kernel module ${path}`, {
      cause: error,
      hint: 'run `./mvos doctor`',
    });
  }
  return Buffer.concat(chunks);
}

function modinfoFields(ko: Buffer): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const pair of modinfoSection(ko).toString('utf8').split('\0')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq);
    fields.set(key, [...(fields.get(key) ?? []), pair.slice(eq + 1)]);
  }
  return fields;
}

function modinfoSection(elf: Buffer): Buffer {
  if (elf.length < 0x34 || elf.readUInt32BE(0) !== 0x7f454c46)
    throw new FailureError('kernel module is not an ELF file');
  const is64 = elf[4] === 2;
  const le = elf[5] === 1;
  const u16 = (o: number) => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (o: number) => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const word = (o: number) => (is64 ? Number(le ? elf.readBigUInt64LE(o) : elf.readBigUInt64BE(o)) : u32(o));
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    if (at + shentsize > elf.length) throw new FailureError('kernel module is truncated: section header past its end');
    return { name: u32(at), offset: word(at + (is64 ? 0x18 : 0x10)), size: word(at + (is64 ? 0x20 : 0x14)) };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const start = names.offset + s.name;
    const name = elf.subarray(start, elf.indexOf(0, start)).toString('latin1');
    if (name === '.modinfo') return elf.subarray(s.offset, s.offset + s.size);
  }
  throw new FailureError('kernel module has no .modinfo section');
}

function closestNames(name: string, known: string[]): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  return known
    .map((k) => ({ k, d: distance(name, k), near: k.includes(name) || name.includes(k) }))
    .filter((s) => s.d <= limit || s.near)
    .sort((a, b) => a.d - b.d || (a.k < b.k ? -1 : 1))
    .slice(0, 3)
    .map((s) => s.k);
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
