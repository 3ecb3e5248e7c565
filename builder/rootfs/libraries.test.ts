import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { readElfLinks } from './elf.ts';
import { linkedFiles, pruneUnreferencedLibraries } from './libraries.ts';
import { FileTree, type TreeEntry } from './tree.ts';

const PROGRAM = '/usr/bin/qemu-img';
const base = { mode: 0o755, uid: 0, gid: 0, origin: 'test' };
const fileAt = (path: string): TreeEntry => ({
  ...base,
  path: path.slice(1),
  type: 'file',
  content: readFileSync(path),
});
const link = (path: string, linkname: string): TreeEntry => ({ ...base, path, type: 'symlink', linkname });

// What the real dynamic linker loads for a program: ldd's "name => /path" lines and the interpreter line.
async function lddClosure(program: string): Promise<Map<string, string>> {
  const { stdout } = await runTool('ldd', [program]);
  const found = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const named = /^\s*(\S+) => (\/\S+)/.exec(line);
    const interpreter = /^\s*(\/\S+) \(/.exec(line);
    if (named) found.set(named[1]!, named[2]!);
    else if (interpreter) found.set(interpreter[1]!, interpreter[1]!);
  }
  return found;
}

// The program, each library it loads under the name ld.so looked for (a symlink to the real file, as Debian ships
// them), merged /usr's lib -> usr/lib, and libraries nothing here needs.
async function treeFor(program: string, unrelated: string[]): Promise<FileTree> {
  const tree = new FileTree();
  tree.add(link('lib', 'usr/lib'));
  tree.add(link('lib64', 'usr/lib64'));
  tree.add(fileAt(program));
  for (const path of [...(await lddClosure(program)).values(), ...unrelated]) {
    const real = realpathSync(path);
    if (!tree.has(real.slice(1))) tree.add(fileAt(real));
    const named = path.replace(/^\/(lib|lib64)\//, '/usr/$1/');
    if (named !== real) tree.add(link(named.slice(1), real));
  }
  return tree;
}

test('readElfLinks reads what readelf -d reads: NEEDED in order, the interpreter, SONAME', async () => {
  const links = readElfLinks(readFileSync(PROGRAM))!;
  const { stdout } = await runTool('readelf', ['-d', '-l', PROGRAM]);
  const needed = [...stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  assert.equal(links.needed, needed);
  assert.is(links.kind, 'executable');
  assert.is(links.interpreter, /Requesting program interpreter: ([^\]]+)\]/.exec(stdout)?.[1]);
  const libz = readElfLinks(readFileSync(realpathSync('/lib/x86_64-linux-gnu/libz.so.1')))!;
  assert.is(libz.kind, 'shared-object');
  assert.is(libz.soname, 'libz.so.1');
});

test('readElfLinks: not ELF, truncated or another class is undefined, never a throw', () => {
  const elf = readFileSync(PROGRAM);
  assert.is(readElfLinks(Buffer.from('#!/bin/sh\n')), undefined);
  assert.is(readElfLinks(elf.subarray(0, 40)), undefined);
  const elf32 = Buffer.from(elf.subarray(0, 4096));
  elf32[4] = 1;
  assert.is(readElfLinks(elf32), undefined);
  // Program headers past the end: what the file claims is not trusted.
  const lying = Buffer.from(elf.subarray(0, 4096));
  lying.writeUInt16LE(60000, 56);
  assert.is(readElfLinks(lying), undefined);
  for (const cut of [100, 1000, 5000, 20000]) readElfLinks(elf.subarray(0, cut));
});

test('pruning keeps exactly what ld.so loads for the program, and removes unrelated libraries with their links', async () => {
  const closure = await lddClosure(PROGRAM);
  const loaded = new Set([...closure.values()].map((p) => realpathSync(p)));
  const unrelated = readdirSync('/usr/lib/x86_64-linux-gnu')
    .filter((name) => /^lib[a-z]+\.so\.\d+$/.test(name))
    .map((name) => `/usr/lib/x86_64-linux-gnu/${name}`)
    .filter((path) => !loaded.has(realpathSync(path)) && statSync(path).size < 4 << 20)
    .slice(0, 3);
  assert.is(unrelated.length, 3, 'this machine has libraries qemu-img does not load');
  const tree = await treeFor(PROGRAM, unrelated);
  const pruned = pruneUnreferencedLibraries(tree, () => false);
  assert.equal(pruned.unresolved, []);
  for (const path of loaded) assert.ok(tree.has(path.slice(1)), `${path} is kept`);
  for (const path of unrelated) {
    assert.not.ok(tree.has(realpathSync(path).slice(1)), `${path} is removed`);
    assert.not.ok(tree.has(path.slice(1)), `the link ${path} went with it`);
  }
  const expected = new Set(unrelated.flatMap((path) => [path.slice(1), realpathSync(path).slice(1)]));
  assert.equal(pruned.removed, [...expected].sort());
});

test('a library kept by the recipe (dlopen) stays, with what it needs; a missing NEEDED is reported', async () => {
  const dlopened = '/usr/lib/x86_64-linux-gnu/libz.so.1';
  const tree = new FileTree();
  tree.add(fileAt(realpathSync(dlopened)));
  tree.add(link(dlopened.slice(1), basename(realpathSync(dlopened))));
  const kept = pruneUnreferencedLibraries(tree.clone(), (path) => path === dlopened.slice(1));
  assert.equal(kept.removed, []);
  assert.ok(kept.unresolved.some((u) => u.startsWith('libc.so.6 (needed by /usr/lib/x86_64-linux-gnu/libz.so')));
  const notKept = pruneUnreferencedLibraries(tree, () => false);
  assert.is(notKept.removed.length, 2);
});

test('linkedFiles: the program and exactly what ld.so loads for it, as the files behind the names', async () => {
  const closure = await lddClosure(PROGRAM);
  const unrelated = ['/usr/lib/x86_64-linux-gnu/libz.so.1'].filter((p) => ![...closure.values()].includes(p));
  const tree = await treeFor(PROGRAM, unrelated);
  const loaded = [...closure.values()].map((p) => realpathSync(p).slice(1));
  assert.equal([...linkedFiles(tree, [PROGRAM, '/usr/bin/not-there'])].sort(), [PROGRAM.slice(1), ...loaded].sort());
  // A program named through a symlink is the file behind it.
  tree.add(link('usr/bin/img', 'qemu-img'));
  assert.ok(linkedFiles(tree, ['/usr/bin/img']).has(PROGRAM.slice(1)));
});

test.run();
