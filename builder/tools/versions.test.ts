import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const versions = join(import.meta.dirname, 'versions.ts');

// A tool that says its version and counts how often it was asked.
function fakeTool(dir: string, version: string): void {
  const next = join(dir, 'fakever.new');
  writeFileSync(next, `#!/bin/sh\necho x >> ${join(dir, 'count')}\necho "fakever ${version}"\n`, { mode: 0o755 });
  // Replaced as a package upgrade replaces a file: a new inode under the same name.
  renameSync(next, join(dir, 'bin', 'fakever'));
}

// toolVersion in a fresh process, as a build asks it.
function ask(dir: string): string {
  return execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import(${JSON.stringify(versions)}).then(async (v) => console.log(await v.toolVersion('fakever')))`,
    ],
    { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, MVOS_CACHE: join(dir, 'cache') } },
  )
    .toString()
    .trim();
}

test('a tool is asked once across processes, and again when its binary is another file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-versions-'));
  try {
    execFileSync('mkdir', ['-p', join(dir, 'bin')]);
    fakeTool(dir, '1.0');
    assert.is(ask(dir), 'fakever: fakever 1.0');
    assert.is(ask(dir), 'fakever: fakever 1.0');
    assert.is(readFileSync(join(dir, 'count'), 'utf8'), 'x\n', 'the second process took the kept answer');
    fakeTool(dir, '2.0');
    assert.is(ask(dir), 'fakever: fakever 2.0');
    assert.is(readFileSync(join(dir, 'count'), 'utf8'), 'x\nx\n');
    writeFileSync(join(dir, 'cache', 'tool-answers.json'), '{"not json');
    assert.is(ask(dir), 'fakever: fakever 2.0', 'a damaged answers file is as good as none');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
