import { readFileSync, realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { dynamicSymbolBytes, icuItemsToRemove, trimIcuData } from './icu.ts';
import { FileTree } from './tree.ts';

// The build machine's own libicudata (icu-devtools needs it), the same kind of file the host image carries.
const LIBRARY = realpathSync('/usr/lib/x86_64-linux-gnu/libicudata.so');
const MAJOR = /libicudata\.so\.(\d+)/.exec(LIBRARY)![1]!;

function treeWithLibrary(): FileTree {
  const tree = new FileTree();
  const base = { mode: 0o644, uid: 0, gid: 0, origin: 'test' };
  tree.add({ ...base, path: LIBRARY.slice(1), type: 'file', content: readFileSync(LIBRARY) });
  tree.add({
    ...base,
    path: `usr/lib/x86_64-linux-gnu/libicudata.so.${MAJOR}`,
    type: 'symlink',
    linkname: LIBRARY.split('/').pop()!,
  });
  return tree;
}

test('dynamicSymbolBytes finds the data symbol where nm says it is', async () => {
  const { stdout } = await runTool('nm', ['-D', '-S', LIBRARY]);
  const [, value, size] = new RegExp(`^([0-9a-f]+) ([0-9a-f]+) R icudt${MAJOR}_dat$`, 'm').exec(stdout)!;
  const found = dynamicSymbolBytes(readFileSync(LIBRARY), `icudt${MAJOR}_dat`)!;
  assert.is(found.size, Number.parseInt(size!, 16));
  assert.ok(found.offset > 0 && Number.parseInt(value!, 16) > 0);
  assert.is(dynamicSymbolBytes(readFileSync(LIBRARY), 'no_such_symbol'), undefined);
  assert.is(
    dynamicSymbolBytes(Buffer.from('not an elf file, but long enough to have a header.........'), 'x'),
    undefined,
  );
});

test('only the named locales stay, with what every locale needs', () => {
  const items = [
    'root.res',
    'en.res',
    'en_GB.res',
    'de.res',
    'pool.res',
    'res_index.res',
    'zoneinfo64.res',
    'plurals.res',
    'ibm-5348_P100-1997.cnv',
    'unames.icu',
    'nfkc.nrm',
    'curr/en.res',
    'curr/fr.res',
    'curr/pool.res',
    'coll/root.res',
    'coll/de.res',
    'coll/ucadata.icu',
    'brkitr/word.brk',
    'brkitr/thaidict.dict',
    'brkitr/de.res',
    'translit/root.res',
  ];
  assert.equal(icuItemsToRemove(items, ['en']), [
    'de.res',
    'ibm-5348_P100-1997.cnv',
    'unames.icu',
    'curr/fr.res',
    'coll/de.res',
    'brkitr/thaidict.dict',
    'brkitr/de.res',
    'translit/root.res',
  ]);
});

test('the trimmed library is a tenth of the size, the same bytes each time, and ICU initialises from it', async () => {
  const first = treeWithLibrary();
  const trimmed = (await trimIcuData(first, ['en']))!;
  assert.ok(trimmed.after < trimmed.before / 5, `${trimmed.before} → ${trimmed.after}`);
  const again = treeWithLibrary();
  await trimIcuData(again, ['en']);
  const bytes = first.get(LIBRARY.slice(1))!.content!;
  assert.ok(bytes.equals(again.get(LIBRARY.slice(1))!.content!), 'reproducible');
  const dir = await mkdtemp(join(tmpdir(), 'mvos-icu-test-'));
  try {
    await writeFile(join(dir, `libicudata.so.${MAJOR}`), bytes);
    const { stdout } = await runTool('readelf', ['-d', join(dir, `libicudata.so.${MAJOR}`)]);
    assert.match(stdout, new RegExp(`Library soname: \\[libicudata\\.so\\.${MAJOR}\\]`));
    // icuinfo loads libicuuc, which takes its data from the library found first: the trimmed one.
    const info = await runTool('icuinfo', [], { env: { ...process.env, LD_LIBRARY_PATH: dir } });
    assert.match(info.stdout, /U_ZERO_ERROR/);
    const converters = await runTool('uconv', ['-f', 'utf-8', '-t', 'iso-8859-2'], {
      env: { ...process.env, LD_LIBRARY_PATH: dir },
      input: 'x',
      allowFailure: true,
    });
    assert.is.not(converters.exitCode, 0, 'the table converters went with the trim');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
