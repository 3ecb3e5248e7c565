import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { readLockfile, serializeLockfile } from './lockfile.ts';

const dir = mkdtempSync(join(tmpdir(), 'mvos-lockfile-'));
const current = readFileSync(join(process.cwd(), 'recipes/host.lock.json'), 'utf8');

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the default lock reads back and serializes to the same text, suite and keys included', () => {
  const lock = readLockfile(join(process.cwd(), 'recipes/host.lock.json'))!;
  assert.is(serializeLockfile(lock), current);
  assert.is(lock.debian.suite, 'trixie');
  assert.equal(
    lock.debian.archives.map((a) => a.archive),
    ['debian', 'debian-security'],
  );
  assert.ok(Object.values(lock.debian.keyrings).every((sha) => /^[0-9a-f]{64}$/.test(sha)));
});

test('a lock from before suites is refused with what to run; `mvos lock` reads it as absent', () => {
  const old = { ...JSON.parse(current), lockfileVersion: 1 };
  delete old.debian;
  const path = join(dir, 'old.lock.json');
  writeFileSync(path, JSON.stringify(old));
  try {
    readLockfile(path);
    assert.unreachable('an old lock was read');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, /lockfile of version 1, from before locks named their Debian suite/);
    assert.match((error as UserError).hint ?? '', /mvos lock/);
  }
  assert.is(readLockfile(path, { olderAsAbsent: true }), undefined);
});

test('a version-2 lock without its suite is damaged, not old', () => {
  const broken = JSON.parse(current);
  delete broken.debian;
  const path = join(dir, 'broken.lock.json');
  writeFileSync(path, JSON.stringify(broken));
  assert.throws(() => readLockfile(path, { olderAsAbsent: true }), /not a lockfile of version 2/);
});

test.run();
