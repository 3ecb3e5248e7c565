// `mvos keys init` (the update key beside the Secure Boot keys), `mvos update bundle` and `mvos update verify` through
// the real launcher, on a small stand-in for a built host image; and minisign, a tool we did not write, checking the
// bundle's manifest.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runMvos } from '../mvos.test-support.ts';

const home = mkdtempSync(join(tmpdir(), 'mvos-cli-update-'));
const env = { XDG_CONFIG_HOME: home };
const keys = join(home, 'mvos', 'keys');
const image = join(home, 'images', 'multiverse-host');
const mvos = (...args: string[]) => runMvos(args, { env, timeoutMs: 120_000 });

function fakeImage(version: string): void {
  mkdirSync(image, { recursive: true });
  writeFileSync(join(image, 'vmlinuz'), randomBytes(4096));
  writeFileSync(join(image, 'initrd'), randomBytes(200_000));
  const manifest = {
    image: { name: 'multiverse-host', version, kind: 'host', kernel: { cmdline: 'console=ttyS0 panic=10' } },
    build: { sourceDateEpoch: 1796515200 },
  };
  writeFileSync(join(image, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

test.after(() => rmSync(home, { recursive: true, force: true }));

test('keys init makes the update key (0600) beside the Secure Boot keys, and refuses a second time', () => {
  const made = mvos('keys', 'init');
  assert.is(made.code, 0, made.stderr);
  assert.match(made.stdout, 'the update key');
  assert.is(statSync(join(keys, 'update.key')).mode & 0o777, 0o600);
  assert.match(
    readFileSync(join(keys, 'update.pub'), 'utf8'),
    /^untrusted comment: minisign public key [0-9A-F]{16}\n/,
  );
  const again = mvos('keys', 'init');
  assert.is(again.code, 2);
  assert.match(again.stderr, 'already holds');
});

test('update bundle writes a signed bundle that verify and minisign accept; the same image makes the same bytes', () => {
  fakeImage('0.2.0');
  const made = mvos('update', 'bundle', image, '--json');
  assert.is(made.code, 0, made.stderr);
  const { file, manifest } = JSON.parse(made.stdout);
  assert.is(file, join(image, 'multiverse-host-0.2.0.mvu'));
  assert.equal(
    manifest.payloads.map((p: { name: string }) => p.name),
    ['vmlinuz', 'initrd'],
  );
  assert.is(manifest.expires, '2027-03-06T00:00:00Z', '90 days after the build (2026-12-06)');
  const first = readFileSync(file);
  assert.is(mvos('update', 'bundle', image).code, 0);
  assert.ok(readFileSync(file).equals(first), 'deterministic');
  const verified = mvos('update', 'verify', file, '--host', 'multiverse-host', '--version', '0.1.0');
  assert.is(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, 'signature good, payloads intact');
  // The format is minisign's: tar gives the two members, minisign checks them.
  const out = join(home, 'extracted');
  mkdirSync(out);
  assert.is(spawnSync('tar', ['-xf', file, '-C', out, 'manifest.json', 'manifest.json.minisig']).status, 0);
  const checked = spawnSync('minisign', ['-V', '-p', join(keys, 'update.pub'), '-m', join(out, 'manifest.json')], {
    encoding: 'utf8',
  });
  if (!checked.error) {
    assert.is(checked.status, 0, `${checked.stdout}${checked.stderr}`);
    assert.match(checked.stdout, 'Trusted comment: mvos update multiverse-host 0.2.0');
  }
});

test('verify refuses: another host, an older version, a changed byte, another key', () => {
  const file = join(image, 'multiverse-host-0.2.0.mvu');
  const refused = (run: { code: number | null; stderr: string }, words: string | RegExp) => {
    assert.is(run.code, 1, run.stderr);
    assert.match(run.stderr, words);
  };
  refused(mvos('update', 'verify', file, '--host', 'other-host'), 'for host multiverse-host');
  refused(mvos('update', 'verify', file, '--version', '0.3.0'), 'older than the running 0.3.0');
  const bytes = readFileSync(file);
  const changed = Buffer.from(bytes);
  changed[changed.length - 2048] = changed[changed.length - 2048]! ^ 0x40;
  const tampered = join(home, 'tampered.mvu');
  writeFileSync(tampered, changed);
  refused(mvos('update', 'verify', tampered), /sha256 is|does not read/);
  const other = join(home, 'other');
  mkdirSync(other);
  assert.is(runMvos(['keys', 'init', '--dir', other], { env, timeoutMs: 120_000 }).code, 0);
  refused(mvos('update', 'verify', file, '--key', join(other, 'update.pub')), 'not by the trusted key');
  const bad = mvos('update', 'bundle', image, '--min-version', '0.3.0');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, 'newer than the bundle');
});

test.run();
