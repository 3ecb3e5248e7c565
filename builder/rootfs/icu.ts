// ICU's data for the locales an image needs, not for all of them: Debian's libicudata is 31 MB of locale data (every
// language's names, currencies, collations, calendars, converters, break dictionaries), the largest file in a host
// after Node itself, while the agent formats English. The data is taken out of the library (the icudt<N>_dat symbol),
// trimmed with ICU's own icupkg, and put back into a library of the same name and SONAME with genccode and ld.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { type FileTree, resolveInTree } from './tree.ts';

const SHT_DYNSYM = 11;

// Where a dynamic symbol's bytes are in an ELF64 little-endian shared object's file, from its section headers; every
// offset is checked against the file.
export function dynamicSymbolBytes(buf: Buffer, name: string): { offset: number; size: number } | undefined {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) return undefined;
  const shoff = Number(buf.readBigUInt64LE(40));
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  if (shentsize < 64 || shoff + shnum * shentsize > buf.length) return undefined;
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return {
      type: buf.readUInt32LE(at + 4),
      addr: Number(buf.readBigUInt64LE(at + 16)),
      offset: Number(buf.readBigUInt64LE(at + 24)),
      size: Number(buf.readBigUInt64LE(at + 32)),
      link: buf.readUInt32LE(at + 40),
    };
  };
  for (let i = 0; i < shnum; i++) {
    const symtab = section(i);
    if (symtab.type !== SHT_DYNSYM || symtab.link >= shnum) continue;
    const strtab = section(symtab.link);
    if (symtab.offset + symtab.size > buf.length || strtab.offset + strtab.size > buf.length) return undefined;
    for (let at = symtab.offset; at + 24 <= symtab.offset + symtab.size; at += 24) {
      const nameAt = strtab.offset + buf.readUInt32LE(at);
      const end = buf.indexOf(0, nameAt);
      if (end < 0 || buf.toString('latin1', nameAt, end) !== name) continue;
      const shndx = buf.readUInt16LE(at + 6);
      if (shndx === 0 || shndx >= shnum) return undefined;
      const home = section(shndx);
      const offset = Number(buf.readBigUInt64LE(at + 8)) - home.addr + home.offset;
      const size = Number(buf.readBigUInt64LE(at + 16));
      return offset >= 0 && offset + size <= buf.length ? { offset, size } : undefined;
    }
  }
  return undefined;
}

// The items of an ICU data package to remove so that only `locales` (and their regional variants) stay, with what
// every locale needs: root, the resource pools and indexes, time zones, plural and unit rules, normalization, root
// collation and the break rules. Converters, transliterators, break dictionaries, character names and spoof data go.
export function icuItemsToRemove(items: readonly string[], locales: readonly string[]): string[] {
  const keptLocale = (file: string): boolean => {
    const locale = file.replace(/\.res$/, '');
    return (
      ['root', 'pool', 'res_index'].includes(locale) || locales.some((l) => locale === l || locale.startsWith(`${l}_`))
    );
  };
  const isLocaleFile = (file: string) => /^[a-z]{2,3}(_[A-Za-z0-9]+)*\.res$/.test(file) || file === 'root.res';
  return items.filter((item) => {
    const [dir, file] = item.includes('/') ? item.split('/', 2) : ['', item];
    if (dir === 'translit') return true;
    if (dir === 'brkitr' && file!.endsWith('.dict')) return true;
    if (dir === '' && (file!.endsWith('.cnv') || file === 'unames.icu' || file === 'confusables.cfu')) return true;
    if (dir !== '' && dir !== 'brkitr' && dir !== 'coll') return !keptLocale(file!);
    return isLocaleFile(file!) && !keptLocale(file!);
  });
}

// What trimming did to the image's libicudata.
export interface TrimmedIcu {
  path: string;
  before: number;
  after: number;
  removedItems: number;
}

// Replaces the tree's libicudata.so.<N>.* with one holding only `locales`' data; undefined when the image has no
// libicudata. Needs icupkg and genccode (icu-devtools) and ld (binutils); the result is the same bytes for the same
// library and locales.
export async function trimIcuData(tree: FileTree, locales: readonly string[]): Promise<TrimmedIcu | undefined> {
  const entry = tree.entries().find((e) => /^usr\/lib\/x86_64-linux-gnu\/libicudata\.so\.\d+\.\d+$/.test(e.path));
  if (!entry) return undefined;
  const path = resolveInTree(tree, entry.path);
  const library = tree.get(path);
  if (library?.type !== 'file') return undefined;
  const major = /libicudata\.so\.(\d+)/.exec(path)![1]!;
  const symbol = `icudt${major}_dat`;
  const data = dynamicSymbolBytes(library.content!, symbol);
  if (!data) throw new FailureError(`${path} has no ${symbol} symbol to take ICU's data from`);
  const work = await mkdtemp(join(tmpdir(), 'mvos-icu-'));
  try {
    const name = `icudt${major}l.dat`;
    await writeFile(join(work, name), library.content!.subarray(data.offset, data.offset + data.size));
    const listed = (await runTool('icupkg', ['-l', name], { cwd: work })).stdout.split('\n').filter(Boolean);
    const remove = icuItemsToRemove(listed, locales);
    await writeFile(join(work, 'remove.txt'), `${remove.join('\n')}\n`);
    await mkdir(join(work, 'out'));
    // --ignore-deps: root's break rules name the dictionaries left out; ICU then breaks those scripts by rules alone.
    await runTool('icupkg', ['--ignore-deps', '-r', 'remove.txt', name, join('out', name)], { cwd: work });
    await writeFile(join(work, 'template.so'), library.content!);
    await runTool('genccode', ['-e', `icudt${major}`, '-o', '-m', 'template.so', '-d', '.', join('out', name)], {
      cwd: work,
    });
    const soname = `libicudata.so.${major}`;
    await runTool(
      'ld',
      [
        '-shared',
        '-soname',
        soname,
        '-z',
        'noexecstack',
        '--hash-style=gnu',
        '-o',
        'trimmed.so',
        `icudt${major}l_dat.o`,
      ],
      { cwd: work },
    );
    const trimmed = await readFile(join(work, 'trimmed.so'));
    tree.add({ ...library, content: trimmed });
    return { path, before: library.content!.length, after: trimmed.length, removedItems: remove.length };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
