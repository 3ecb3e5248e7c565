// `mvos flash` through the real launcher, with files as targets (the loop-device cases are in
// builder/media/flash.test.ts).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runMvos } from '../mvos.test-support.ts';

const work = mkdtempSync(join(tmpdir(), 'mvos-cli-flash-'));
const image = join(work, 'image.raw');
const bytes = randomBytes((5 << 20) + 123);
writeFileSync(image, bytes);

const mvos = (...args: string[]) => runMvos(args);

test('flash is listed in --help and explains its refusals', () => {
  assert.match(mvos('--help').stdout, /flash\s+write a built image/);
  const help = mvos('flash', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /--to-file/);
  assert.match(help.stdout, /partition/);
});

test('wrong arguments exit 2', () => {
  assert.is(mvos('flash', image).code, 2);
  assert.is(mvos('flash', image, join(work, 'a'), join(work, 'b')).code, 2);
});

test('a regular file is refused without --to-file, and left as it was', () => {
  const out = join(work, 'existing.raw');
  writeFileSync(out, 'keep');
  const run = mvos('flash', image, out, '--yes');
  assert.is(run.code, 2);
  assert.match(run.stderr, /regular file/);
  assert.match(run.stderr, /--to-file/);
  assert.is(readFileSync(out, 'utf8'), 'keep');
});

test('no --yes and stdin not a terminal: refused, nothing written', () => {
  const out = join(work, 'unconfirmed.raw');
  const run = mvos('flash', image, out, '--to-file');
  assert.is(run.code, 2);
  assert.match(run.stderr, /pass --yes/);
  assert.not.ok(existsSync(out));
});

test('--to-file --yes --json writes the file and reports bytes, seconds and MiB/s', () => {
  const out = join(work, 'written.raw');
  const run = mvos('flash', image, out, '--to-file', '--yes', '--json');
  assert.is(run.code, 0, run.stderr);
  const json = JSON.parse(run.stdout);
  assert.is(json.bytes, bytes.length);
  assert.type(json.seconds, 'number');
  assert.type(json.mibPerSecond, 'number');
  assert.ok(json.verified);
  assert.ok(readFileSync(out).equals(bytes));
  const text = mvos('flash', image, out, '--to-file', '--yes');
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /target: file .* replaced/);
  assert.match(text.stdout, /MiB\/s\); read back, sha256 [0-9a-f]{64} matches/);
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
