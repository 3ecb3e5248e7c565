import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, UserError } from '../../common/errors.ts';
import {
  assertKeyringsMatch,
  debianSourcesOf,
  pickDebianMirrors,
  sourcesForLock,
  writeDebianSources,
} from './debian-sources.ts';

const dir = mkdtempSync(join(tmpdir(), 'mvos-debian-sources-'));
const keys = join(dir, 'keys');
mkdirSync(keys);
const mirrors = { debian: 'http://mirror.example/debian', security: 'http://mirror.example/debian-security' };

function writeKeys(suite: 'bookworm' | 'trixie'): void {
  for (const file of debianSourcesOf(suite).keyringFiles) {
    writeFileSync(join(keys, file), `key ${file}\n`);
  }
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test("the mirrors come from apt's index targets: the main archive and the security archive, by label or by suite", () => {
  const withRelease = [
    'http://mirror.example/debian-security/|bookworm-security|Debian|Debian-Security',
    'http://mirror.example/debian/|bookworm-updates|Debian|Debian',
    'http://mirror.example/debian/|bookworm|Debian|Debian',
    'https://packages.vendor.example/apt/|cloud-sdk|Vendor|Vendor',
  ].join('\n');
  assert.equal(pickDebianMirrors(withRelease), mirrors);
  // Before the machine's first `apt-get update`, apt knows no origin or label: the suite names decide.
  const bare = 'http://mirror.example/debian/|trixie||\nhttp://mirror.example/debian-security/|trixie-security||\n';
  assert.equal(pickDebianMirrors(bare), mirrors);
  assert.equal(
    pickDebianMirrors('http://m.example/debian/|bookworm|Debian|Debian').security,
    'http://m.example/debian-security',
  );
});

test('a machine whose sources name no Debian archive is told how to give one', () => {
  const error = (() => {
    try {
      pickDebianMirrors('https://packages.vendor.example/apt/|nodistro|Vendor|Vendor\n');
    } catch (e) {
      return e;
    }
  })();
  assert.instance(error, UserError);
  assert.match((error as UserError).hint ?? '', /--apt-sources/);
});

test("the sources name the suite, its updates and security suites, and only that release's keys", async () => {
  const out = mkdtempSync(join(dir, 'out-'));
  writeKeys('trixie');
  const { file, locked } = await writeDebianSources(out, 'trixie', mirrors, keys);
  assert.ok(file.endsWith('.sources'), 'apt reads deb822 only from *.sources files');
  const text = readFileSync(file, 'utf8');
  assert.match(text, /URIs: http:\/\/mirror\.example\/debian\nSuites: trixie trixie-updates\n/);
  assert.match(text, /URIs: http:\/\/mirror\.example\/debian-security\nSuites: trixie-security\n/);
  assert.match(text, new RegExp(`Signed-By: ${keys}/debian-archive-trixie-automatic.gpg `));
  assert.not.match(text, /bookworm/);
  assert.equal(Object.keys(locked.keyrings).sort(), [
    'debian-archive-trixie-automatic.gpg',
    'debian-archive-trixie-security-automatic.gpg',
    'debian-archive-trixie-stable.gpg',
  ]);
  assert.not.match(JSON.stringify(locked), /mirror\.example/, 'the lock records no mirror');
  await assertKeyringsMatch(locked, 'x.lock.json', keys);
  writeFileSync(join(keys, 'debian-archive-trixie-stable.gpg'), 'another key\n');
  const changed = await assertKeyringsMatch(locked, 'x.lock.json', keys).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(changed, FailureError);
  assert.match((changed as Error).message, /debian-archive-trixie-stable\.gpg differ from those x\.lock\.json/);
});

test('a missing release key names the package that brings it', async () => {
  const error = await writeDebianSources(dir, 'bookworm', mirrors, join(dir, 'no-keys')).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, UserError);
  assert.match((error as UserError).hint ?? '', /debian-archive-keyring/);
});

test('a lock made from --apt-sources needs them again to fetch', async () => {
  const locked = { suite: 'trixie' as const, archives: [], components: [], keyrings: {} };
  assert.is(await sourcesForLock(dir, locked, '/etc/given.sources', 'x.lock.json'), '/etc/given.sources');
  const error = await sourcesForLock(dir, locked, undefined, 'x.lock.json').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, UserError);
  assert.match((error as Error).message, /x\.lock\.json was made from apt sources given with --apt-sources/);
});

test.run();
