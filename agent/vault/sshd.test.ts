// Ephemeral keys end to end with tools we did not write: `mvos ssh cert` logs in to the agent's jail with the real
// OpenSSH client (key + one-time code), and a real OpenSSH sshd (Debian's openssh-server, unpacked from apt's cache,
// never installed) in a network namespace with TrustedUserCAKeys set to the vault's CA takes that certificate; it
// refuses the key without one, a certificate once it has expired, one bound to another source address, and one of
// another CA.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { issueUserCertificate, openSshPublicKey } from '../../common/vault/ssh-cert.ts';
import { type Fixture, startFixture } from '../ssh/fixture.test-support.ts';
import { VaultService } from './service.ts';

const APT_CACHE = '/var/cache/apt/archives';
const PASS = 'vault passphrase for the sshd test';
const NETNS = `mvt-sshd-${process.pid}`;
const repo = join(import.meta.dirname, '../..');

let dir: string;
let jail: Fixture;
let vault: VaultService;
let sshd: ChildProcess | undefined;
let sshdLog = '';

// Debian's sshd from apt's download cache (.ci/setup puts it there), unpacked into the test's folder.
function unpackSshd(into: string): string {
  const deb = readdirSync(APT_CACHE).find((name) => /^openssh-server_.*_amd64\.deb$/.test(name));
  if (!deb)
    throw new Error(
      `no openssh-server package in ${APT_CACHE}: run bash .ci/setup (it downloads it for this test, installs nothing)`,
    );
  const run = spawnSync('dpkg-deb', ['-x', join(APT_CACHE, deb), into], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  return join(into, 'usr/sbin/sshd');
}

function must(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  assert.is(run.status, 0, `${command} ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

// sshd as root in the namespace, with a passwd of its own (alice, and the privilege separation user) and /run/sshd,
// both mounted only in the namespace's own mount table.
async function startSshd(binary: string, caFile: string): Promise<void> {
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  await writeFile(join(dir, 'known_hosts'), `127.0.0.1 ${await readFile(join(dir, 'host_key.pub'), 'utf8')}`);
  const passwd = (await readFile('/etc/passwd', 'utf8'))
    .split('\n')
    .filter((line) => line && !/^(alice|sshd):/.test(line));
  passwd.push('alice:x:65534:65534:alice:/tmp:/bin/sh', 'sshd:x:65533:65534::/run/sshd:/usr/sbin/nologin');
  await writeFile(join(dir, 'passwd'), `${passwd.join('\n')}\n`);
  await writeFile(
    join(dir, 'sshd_config'),
    [
      'ListenAddress 127.0.0.1:22',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AuthorizedKeysFile none',
      `TrustedUserCAKeys ${caFile}`,
      'StrictModes no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mkdir -m 0755 /run/sshd',
    `mount --bind ${join(dir, 'passwd')} /etc/passwd`,
    `exec ${binary} -D -e -f ${join(dir, 'sshd_config')}`,
  ].join('\n');
  sshd = spawn('ip', ['netns', 'exec', NETNS, 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr!.on('data', (chunk: Buffer) => (sshdLog += chunk.toString()));
  const until = Date.now() + 20_000;
  while (!/Server listening on 127\.0\.0\.1 port 22/.test(sshdLog)) {
    if (sshd.exitCode !== null || Date.now() > until) throw new Error(`sshd did not start:\n${sshdLog}`);
    await sleep(50);
  }
}

// ssh from inside the namespace to its sshd as alice with `key` (and KEY-cert.pub beside it, if there is one).
function login(key: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(
      'ip',
      [
        'netns',
        'exec',
        NETNS,
        'ssh',
        '-F',
        '/dev/null',
        '-i',
        key,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
        '-o',
        'StrictHostKeyChecking=yes',
        'alice@127.0.0.1',
        'echo MVOS-CERT-LOGIN-$((6*7))',
      ],
      { encoding: 'utf8', timeout: 30_000 },
      (error, stdout, stderr) => done({ status: error ? ((error.code as number) ?? -1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

// Waits a moment for sshd's log to say `why` (its lines come from the connection's own process).
async function logSays(from: number, why: RegExp): Promise<void> {
  const until = Date.now() + 5000;
  while (!why.test(sshdLog.slice(from)) && Date.now() < until) await sleep(50);
  assert.match(sshdLog.slice(from), why, sshdLog.slice(from));
}

const accepted = async (key: string) => {
  const out = await login(key);
  assert.is(out.status, 0, `${out.stderr}\nsshd:\n${sshdLog.slice(-2000)}`);
  assert.is(out.stdout.trim(), 'MVOS-CERT-LOGIN-42');
};
const refused = async (key: string, why: RegExp) => {
  const before = sshdLog.length;
  const out = await login(key);
  assert.is(out.status, 255, out.stdout);
  assert.match(out.stderr, /Permission denied \(publickey\)/);
  await logSays(before, why);
};

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mvos-sshd-'));
  const binary = unpackSshd(join(dir, 'deb'));
  must('ip', ['netns', 'add', NETNS]);
  must('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
  vault = await VaultService.open(join(dir, 'state'));
  await vault.create(PASS, 'alice');
  const caFile = join(dir, 'ca.pub');
  await writeFile(caFile, `${vault.view().caPublicKey}\n`);
  await startSshd(binary, caFile);
  jail = await startFixture({ vault });
});

test.after(async () => {
  sshd?.kill('SIGTERM');
  await jail?.cleanup();
  spawnSync('ip', ['netns', 'del', NETNS]);
  await rm(dir, { recursive: true, force: true });
});

test('mvos ssh cert (key + code into the jail) gives a certificate sshd takes; the bare key it refuses', async () => {
  const key = join(dir, 'alice');
  await copyFile(jail.alice.file, key, 0);
  spawnSync('chmod', ['600', key]);
  await refused(key, /Failed publickey for alice from 127\.0\.0\.1 port \d+ ssh2: ED25519 SHA256/);
  const askpass = join(dir, 'askpass');
  await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$MVOS_TEST_CODE"\n', { mode: 0o700 });
  await writeFile(join(dir, 'jail_known_hosts'), `[127.0.0.1]:${jail.server.port} ${jail.server.publicKey}\n`);
  jail.clock.now += 30_000;
  const code = await jail.code();
  const cli = await new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
    const child = execFile(
      join(repo, 'mvos'),
      [
        'ssh',
        'cert',
        'alice@127.0.0.1',
        '--port',
        String(jail.server.port),
        '--key',
        key,
        '--lifetime',
        '10m',
        '--option',
        `UserKnownHostsFile=${join(dir, 'jail_known_hosts')}`,
        '--option',
        'StrictHostKeyChecking=yes',
        '--option',
        'GlobalKnownHostsFile=/dev/null',
      ],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          SSH_ASKPASS: askpass,
          SSH_ASKPASS_REQUIRE: 'force',
          DISPLAY: ':0',
          MVOS_TEST_CODE: code,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => done({ status: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
  assert.is(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /certificate alice@mvos-vault#\d+ written to .*alice-cert\.pub/);
  assert.ok(existsSync(`${key}-cert.pub`));
  await accepted(key);
  assert.match(sshdLog, /Accepted publickey for alice from 127\.0\.0\.1 .*ED25519-CERT/);
});

test('sshd takes a certificate until it expires and refuses it after', async () => {
  const key = join(dir, 'short');
  await copyFile(jail.alice.file, key, 0);
  spawnSync('chmod', ['600', key]);
  // The same vault, its clock 56 s behind: a 60 s certificate that ends 4 s from now.
  const behind = await VaultService.open(join(dir, 'state'), { now: () => Date.now() - 56_000 });
  await behind.unlock({ passphrase: PASS }, 'alice');
  const publicKey = jail.alice.publicKey;
  const issued = behind.issueCertificate({ user: 'alice', publicKey, validitySeconds: 60 });
  await writeFile(`${key}-cert.pub`, `${issued.certificate}\n`);
  await accepted(key);
  await sleep(Math.max(0, Date.parse(issued.validBefore) - Date.now()) + 1500);
  await refused(key, /Certificate invalid: expired/);
});

test('sshd refuses a certificate bound to another address, and one of another CA', async () => {
  const key = join(dir, 'bound');
  await copyFile(jail.alice.file, key, 0);
  spawnSync('chmod', ['600', key]);
  const publicKey = jail.alice.publicKey;
  const elsewhere = vault.issueCertificate({ user: 'alice', publicKey, validitySeconds: 300, from: '192.0.2.9' });
  await writeFile(`${key}-cert.pub`, `${elsewhere.certificate}\n`);
  await refused(key, /not from a permitted source address \(127\.0\.0\.1\)/);
  const here = vault.issueCertificate({ user: 'alice', publicKey, validitySeconds: 300, from: '127.0.0.1' });
  await writeFile(`${key}-cert.pub`, `${here.certificate}\n`);
  await accepted(key);
  const other = generateKeyPairSync('ed25519');
  const now = Math.floor(Date.now() / 1000);
  const forged = issueUserCertificate(other.privateKey, {
    publicKey,
    keyId: 'alice@elsewhere',
    principals: ['alice'],
    validAfter: now - 60,
    validBefore: now + 300,
    serial: 1n,
  });
  assert.ok(openSshPublicKey(other.publicKey));
  await writeFile(`${key}-cert.pub`, `${forged}\n`);
  await refused(key, /Failed publickey for alice .*ED25519-CERT .*ID alice@elsewhere/);
});

test.run();
