// TLS on the TCP API: a certificate from the image (key folder) or one made on first start; curl logs in with --cacert;
// plain HTTP stays on loopback.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { refused } from '../../common/refused.test-support.ts';
import { writeSelfSigned } from '../../common/self-signed.test-support.ts';
import { type Fixture, startFixture } from './fixture.test-support.ts';

const hasCurl = spawnSync('curl', ['--version']).status === 0;

// One curl call (asynchronous: the API it talks to runs in this process); the HTTP status and the response headers it
// printed.
function curl(args: string[]): Promise<{ status: number; headers: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '-D', '-', '-o', '/dev/null', '-w', '%{http_code}', ...args],
      { encoding: 'utf8', timeout: 20_000 },
      (_error, stdout, stderr) => {
        resolve({ status: Number(stdout.slice(-3)), headers: stdout.slice(0, -3), stderr });
      },
    );
  });
}

async function curlLogin(
  fx: Fixture,
  user: string,
  cacert: string,
  extra: string[] = [],
  url = fx.url,
): Promise<{ status: number; headers: string; stderr: string }> {
  const password = fx.users.find((u) => u.name === user)!.password;
  const body = JSON.stringify({ user, password, code: await fx.code(user) });
  return await curl([
    '--cacert',
    cacert,
    '-X',
    'POST',
    '-H',
    'content-type: application/json',
    '--data',
    body,
    ...extra,
    `${url}/login`,
  ]);
}

function opensslFingerprint(file: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', file], { encoding: 'utf8' })
    .trim()
    .split('=')[1]!;
}

test('self-signed: made on first start (key 0600, SAN for the address and the names), curl --cacert logs in, the fingerprint is the DER SHA-256', async () => {
  if (!hasCurl) return console.log('  skipped: needs curl');
  const fx = await startFixture({ agent: { apiTls: { source: 'self-signed' }, apiNames: ['agent.test'] } });
  try {
    assert.match(fx.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const cert = fx.api.tcp!.certificate!;
    assert.is(cert.source, 'self-signed');
    assert.is(cert.file, join(fx.dir, 'state', 'api-tls.crt'));
    assert.is((await stat(join(fx.dir, 'state', 'api-tls.key'))).mode & 0o777, 0o600);
    const x509 = new X509Certificate(await readFile(cert.file));
    assert.ok(x509.checkIP('127.0.0.1') && x509.checkHost('agent.test'), `SAN ${x509.subjectAltName}`);
    assert.ok(x509.verify(x509.publicKey), 'self-signed: its own key verifies it');
    assert.match(cert.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.is(cert.fingerprint, opensslFingerprint(cert.file));
    const byAddress = await curlLogin(fx, 'alice', cert.file);
    assert.is(byAddress.status, 200, byAddress.stderr);
    assert.match(byAddress.headers, /set-cookie: .*; Secure/i);
    const port = new URL(fx.url).port;
    const byName = await curlLogin(
      fx,
      'bob',
      cert.file,
      ['--resolve', `agent.test:${port}:127.0.0.1`, '-H', `origin: https://agent.test:${port}`],
      `https://agent.test:${port}`,
    );
    assert.is(byName.status, 200, byName.stderr);
    assert.not.equal(
      (await curl([`${fx.url}/login`])).status,
      200,
      'without --cacert curl refuses the unknown certificate',
    );
  } finally {
    await fx.close();
  }
});

test('self-signed: the next start keeps the same certificate (the fingerprint people compared stays valid)', async () => {
  const first = await startFixture({ agent: { apiTls: { source: 'self-signed' } } });
  try {
    const again = await startFixture({
      agent: { apiTls: { source: 'self-signed' } },
      stateDir: join(first.dir, 'state'),
    });
    try {
      assert.is(again.api.tcp!.certificate!.fingerprint, first.api.tcp!.certificate!.fingerprint);
    } finally {
      await again.close();
    }
  } finally {
    await first.close();
  }
});

test("key folder: the image's certificate and key are served; curl --cacert logs in; a key open to others is refused", async () => {
  if (!hasCurl) return console.log('  skipped: needs curl');
  const probe = await startFixture();
  const dir = probe.dir;
  const keyFile = join(dir, 'api-tls.key');
  const certFile = join(dir, 'api-tls.crt');
  try {
    writeSelfSigned({ key: keyFile, cert: certFile }, '/CN=mvos test', 'IP:127.0.0.1');
    const fx = await startFixture({ agent: { apiTls: { source: 'key-folder', certFile, keyFile } } });
    try {
      assert.is(fx.api.tcp!.certificate!.source, 'key-folder');
      assert.is(fx.api.tcp!.certificate!.fingerprint, opensslFingerprint(certFile));
      const login = await curlLogin(fx, 'alice', certFile);
      assert.is(login.status, 200, login.stderr);
    } finally {
      await fx.close();
    }
    await chmod(keyFile, 0o644);
    await refused(
      startFixture({ agent: { apiTls: { source: 'key-folder', certFile, keyFile } } }),
      /open to group or others/,
    );
  } finally {
    await probe.close();
  }
});

test('plain HTTP off loopback is refused at start unless the config says insecure', async () => {
  try {
    const fx = await startFixture({ listen: '0.0.0.0:0' });
    await fx.close();
    assert.unreachable('plain HTTP was served on 0.0.0.0');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, /plain HTTP/);
  }
  const insecure = await startFixture({ listen: '0.0.0.0:0', agent: { apiInsecure: true } });
  try {
    assert.match(insecure.url, /^http:\/\/0\.0\.0\.0:\d+$/);
  } finally {
    await insecure.close();
  }
});

test.run();
