import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replaceFileAtomic, writeFileAtomic } from './atomic-write.ts';
import { withTempDir } from './temp-dir.ts';

test('writeFileAtomic replaces the file, with mode 0600 unless told, and leaves no temporary file', () =>
  withTempDir('mvos-atomic-', async (dir) => {
    const file = join(dir, 'state.json');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new');
    assert.is(await readFile(file, 'utf8'), 'new');
    assert.is((await stat(file)).mode & 0o777, 0o600);
    await writeFileAtomic(file, 'shared', { mode: 0o644, durable: false });
    assert.is((await stat(file)).mode & 0o777, 0o644);
    assert.equal(await readdir(dir), ['state.json']);
  }));

test('writes of one file at once each land whole (every writer has its own temporary name)', () =>
  withTempDir('mvos-atomic-', async (dir) => {
    const file = join(dir, 'status.json');
    const texts = Array.from({ length: 20 }, (_, i) => `${String(i).repeat(1000)}\n`);
    await Promise.all(texts.map((text) => writeFileAtomic(file, text)));
    assert.ok(texts.includes(await readFile(file, 'utf8')));
    assert.equal(await readdir(dir), ['status.json']);
  }));

test('writeFileAtomic makes the missing folder, private', () =>
  withTempDir('mvos-atomic-', async (dir) => {
    const file = join(dir, 'made', 'file');
    await writeFileAtomic(file, 'x');
    assert.is((await stat(join(dir, 'made'))).mode & 0o777, 0o700);
  }));

test('replaceFileAtomic: a fill that fails leaves the old file and no temporary one; a given temporary path is used', () =>
  withTempDir('mvos-atomic-', async (dir) => {
    const file = join(dir, 'disk');
    await writeFile(file, 'old');
    const failed = replaceFileAtomic(file, async (temp) => {
      await writeFile(temp, 'half');
      throw new Error('tool failed');
    });
    assert.is(
      await failed.then(
        () => 'resolved',
        (error: Error) => error.message,
      ),
      'tool failed',
    );
    assert.is(await readFile(file, 'utf8'), 'old');
    assert.equal(await readdir(dir), ['disk']);
    const temp = join(dir, '.creating-disk');
    let used = '';
    await replaceFileAtomic(
      file,
      async (path) => {
        used = path;
        await writeFile(path, 'new');
      },
      { temp },
    );
    assert.is(used, temp);
    assert.is(await readFile(file, 'utf8'), 'new');
  }));

test.run();
