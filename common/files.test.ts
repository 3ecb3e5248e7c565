import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pathExists, readJsonOr, readTextIfExists } from './files.ts';
import { withTempDir } from './temp-dir.ts';

async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: Error) => error.message,
  );
}

test('pathExists: files and folders exist, a missing name and a dangling link do not', () =>
  withTempDir('mvos-files-', async (dir) => {
    await writeFile(join(dir, 'file'), 'x');
    await mkdir(join(dir, 'folder'));
    await symlink(join(dir, 'gone'), join(dir, 'dangling'));
    assert.ok(await pathExists(join(dir, 'file')));
    assert.ok(await pathExists(join(dir, 'folder')));
    assert.not.ok(await pathExists(join(dir, 'missing')));
    assert.not.ok(await pathExists(join(dir, 'dangling')));
  }));

test('readTextIfExists: the text, undefined for a missing file, an error for a folder', () =>
  withTempDir('mvos-files-', async (dir) => {
    await writeFile(join(dir, 'file'), 'hello');
    assert.is(await readTextIfExists(join(dir, 'file')), 'hello');
    assert.is(await readTextIfExists(join(dir, 'missing')), undefined);
    assert.match(await rejection(readTextIfExists(dir)), /EISDIR/);
  }));

test('readJsonOr: the parsed value, the fallback only for a missing file, an error naming a corrupt one', () =>
  withTempDir('mvos-files-', async (dir) => {
    await writeFile(join(dir, 'good.json'), '{"a":1}');
    await writeFile(join(dir, 'bad.json'), '{"a":');
    assert.equal(await readJsonOr(join(dir, 'good.json'), {}), { a: 1 });
    const fallback = { empty: true };
    assert.is(await readJsonOr(join(dir, 'missing.json'), fallback), fallback);
    assert.match(await rejection(readJsonOr(join(dir, 'bad.json'), {})), /bad\.json is not valid JSON/);
    assert.match(await rejection(readJsonOr(dir, {})), /EISDIR/);
  }));

test.run();
