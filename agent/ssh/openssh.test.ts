import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writtenLines } from '../auth/audit.test-support.ts';
import { type Fixture, startFixture } from './fixture.test-support.ts';

// The real OpenSSH client against the server, the code typed through SSH_ASKPASS (forced, so no terminal is needed).
const STEP = 30_000;
let f: Fixture;
let askpass: string;

interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function knownHosts(): Promise<string> {
  const file = join(f.dir, 'known_hosts');
  await writeFile(file, `[127.0.0.1]:${f.server.port} ${f.server.publicKey}\n`);
  return file;
}

// What every client run passes: this key alone, no config files, and the server's key pinned in a known_hosts file.
async function clientOptions(key: string): Promise<string[]> {
  return [
    '-F',
    '/dev/null',
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=no',
    '-o',
    `UserKnownHostsFile=${await knownHosts()}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
  ];
}

// A clean environment in which the client asks SSH_ASKPASS for the code, even without a terminal, and gets `code`.
function askpassEnv(code: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: f.dir,
    SSH_ASKPASS: askpass,
    SSH_ASKPASS_REQUIRE: 'force',
    DISPLAY: ':0',
    MVOS_TEST_CODE: code,
  };
}

// Runs `tool` (ssh or sftp) with a fresh code (the server clock moves one step first), or the code given.
async function ssh(
  args: string[],
  options: { code?: string; stepsAgo?: number; key?: string; tool?: string; env?: Record<string, string> } = {},
): Promise<SshResult> {
  f.clock.now += STEP;
  const code = options.code ?? (await f.code(options.stepsAgo));
  const port = f.server.port;
  const common = [
    ...(await clientOptions(options.key ?? f.alice.file)),
    '-o',
    'NumberOfPasswordPrompts=1',
    '-o',
    'ConnectTimeout=20',
    '-o',
    'LogLevel=ERROR',
  ];
  const tool = options.tool ?? 'ssh';
  const argv = tool === 'sftp' ? ['-P', String(port), ...common, ...args] : ['-p', String(port), ...common, ...args];
  const env = { ...askpassEnv(code), ...options.env };
  return new Promise((resolve) => {
    const child = execFile(tool, argv, { env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

test.before.each(async () => {
  f = await startFixture();
  askpass = join(f.dir, 'askpass');
  await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$MVOS_TEST_CODE"\n', { mode: 0o700 });
});

test.after.each(() => f.cleanup());

test('ssh with the key and the right code runs status; the code is not in the audit log', async () => {
  const out = await ssh(['alice@127.0.0.1', 'status']);
  assert.is(out.code, 0, out.stderr);
  assert.match(out.stdout, /^host test-host 1\.2\.3\n/);
  const code = await f.code();
  const log = await writtenLines(f.server.audit);
  assert.equal(
    log.map((e) => `${e.action} ${e.result}`).filter((l) => !l.startsWith('env')),
    ['publickey ok', 'login ok', 'exec ok'],
  );
  assert.not.ok((await readFile(f.server.audit.file, 'utf8')).includes(code));
});

test('ssh without a key, with a wrong key, with a wrong code is refused', async () => {
  const noKey = await ssh(['-o', 'PubkeyAuthentication=no', 'alice@127.0.0.1', 'status']);
  const wrongKey = await ssh(['alice@127.0.0.1', 'status'], { key: f.stranger.file });
  const wrongCode = await ssh(['alice@127.0.0.1', 'status'], { code: '000000' });
  for (const out of [noKey, wrongKey, wrongCode]) {
    assert.is(out.code, 255);
    assert.match(out.stderr, /Permission denied/);
    assert.is(out.stdout, '');
  }
  assert.equal(f.controls.calls, []);
  const reasons = (await writtenLines(f.server.audit)).filter((e) => e.result === 'refused').map((e) => e.reason);
  assert.ok(
    reasons.includes('no-key-offered') && reasons.includes('key-not-authorized') && reasons.includes('wrong-code'),
    reasons.join(),
  );
});

test('ssh with a replayed code is refused, also after a server restart; a code from two steps ago too', async () => {
  f.clock.now += STEP;
  const code = await f.code();
  f.clock.now -= STEP;
  assert.is((await ssh(['alice@127.0.0.1', 'help'], { code })).code, 0);
  const replay = await ssh(['alice@127.0.0.1', 'help'], { code });
  assert.is(replay.code, 255);
  await f.restart();
  f.clock.now -= STEP;
  const afterRestart = await ssh(['alice@127.0.0.1', 'help'], { code });
  assert.is(afterRestart.code, 255);
  assert.is((await ssh(['alice@127.0.0.1', 'help'], { stepsAgo: 2 })).code, 255, 'two steps ago');
  const reasons = (await writtenLines(f.server.audit))
    .filter((e) => e.action === 'keyboard-interactive')
    .map((e) => e.reason);
  assert.equal(reasons, ['replayed', 'replayed', 'wrong-code']);
});

test('jail escapes through ssh are refused with exit status 2 and nothing run', async () => {
  for (const command of [
    'status; vm start web',
    'status && vm start web',
    'vm start $(echo web)',
    'vm start `echo web`',
    'vm logs ../../../etc/shadow',
    `vm start ${'x'.repeat(80)}`,
    'reboot',
  ]) {
    const out = await ssh(['alice@127.0.0.1', command]);
    assert.is(out.code, 2, command);
    assert.match(out.stderr, /refused: /, command);
  }
  const tty = await ssh(['-tt', 'alice@127.0.0.1', 'bash']);
  assert.match(tty.stdout + tty.stderr, /refused: unknown command `bash`/);
  assert.is(tty.code, 2);
  const log = await writtenLines(f.server.audit);
  assert.ok(
    log.some((e) => e.action === 'pty' && e.result === 'ok'),
    'a pty is granted',
  );
  assert.ok(
    log.every((e) => e.action !== 'exec' || e.result === 'refused'),
    'bash, with a pty, is refused as well',
  );
  assert.equal(f.controls.changes, []);
});

test('a shell, sftp, -W/-L and -R forwarding and agent forwarding are refused', async () => {
  const shell = await ssh(['alice@127.0.0.1']);
  assert.match(shell.stderr, /shell request failed/);
  assert.is.not(shell.code, 0);
  const sftp = await ssh(['-b', '-', 'alice@127.0.0.1'], { tool: 'sftp' });
  assert.is.not(sftp.code, 0);
  assert.match(sftp.stderr, /subsystem request failed|Connection closed/);
  const stdio = await ssh(['-W', '127.0.0.1:22', 'alice@127.0.0.1']);
  assert.match(stdio.stderr, /stdio forwarding failed/);
  assert.is.not(stdio.code, 0);
  const remote = await ssh(['-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:22', 'alice@127.0.0.1', 'help']);
  assert.match(remote.stderr, /remote port forwarding failed/);
  assert.is(remote.code, 255);
  const agent = execFileSync('ssh-agent', ['-s'], { encoding: 'utf8' });
  const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent)?.[1];
  const pid = Number(/SSH_AGENT_PID=([0-9]+);/.exec(agent)?.[1]);
  assert.ok(sock && pid, agent);
  try {
    const forwarded = await ssh(['-A', 'alice@127.0.0.1', 'help'], { env: { SSH_AUTH_SOCK: sock } });
    assert.is(forwarded.code, 0, 'the command runs; the agent is not forwarded');
  } finally {
    process.kill(pid);
  }
  const refused = (await writtenLines(f.server.audit)).filter((e) => e.result === 'refused').map((e) => e.action);
  for (const action of ['shell', 'sftp', 'port-forwarding', 'remote-forwarding', 'agent-forwarding'])
    assert.ok(refused.includes(action), `${action} in ${refused}`);
  assert.equal(f.controls.changes, []);
});

// `ssh -tt … console VM` driven by a script: `steps` wait for a pattern in the output, then type.
async function sshConsole(extra: string[], vm: string, steps: Array<[RegExp, string]>): Promise<SshResult> {
  f.clock.now += STEP;
  const code = await f.code();
  const argv = [
    '-p',
    String(f.server.port),
    ...(await clientOptions(f.alice.file)),
    '-o',
    'LogLevel=ERROR',
    ...extra,
    'alice@127.0.0.1',
    'console',
    vm,
  ];
  const env = askpassEnv(code);
  return new Promise((resolve) => {
    const child = spawn('ssh', argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill(), 20_000);
    const next = (): void => {
      const step = steps[0];
      if (step?.[0].test(stdout)) {
        steps.shift();
        child.stdin.write(step[1]);
        next();
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
      next();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ code: status ?? -1, stdout, stderr });
    });
  });
}

test("ssh -tt console rescue: a command typed runs and its output comes back; the jail's ~. ends it; without a pty it stays read-only", async () => {
  const out = await sshConsole(['-tt', '-e', 'none'], 'rescue', [
    [/you have the keyboard/, 'echo hi-from-openssh\r'],
    [/hi-from-openssh\r\n# /, '~.'],
  ]);
  assert.is(out.code, 0, out.stderr);
  assert.match(out.stdout, /echo hi-from-openssh\r\nhi-from-openssh\r\n# /);
  assert.match(out.stdout, /\[console detached\]/);
  assert.is(f.controls.consoles.sent('rescue'), 'echo hi-from-openssh\r');
  // OpenSSH's own ~. (its default escape) ends the session from the client side just as well.
  const own = await sshConsole(['-tt'], 'rescue', [
    [/you have the keyboard/, 'echo again\r'],
    [/again\r\n# /, '\r~.'],
  ]);
  assert.match(own.stdout, /again\r\n# /);
  for (let i = 0; i < 100 && f.controls.consoles.broker('rescue').sessions > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.is(f.controls.consoles.broker('rescue').sessions, 0, 'the session ended with the connection');
  const plain = await sshConsole(['-T'], 'rescue', [[/ready\n/, 'echo nope\r\x03']]);
  assert.is(plain.code, 0, plain.stderr);
  assert.not.ok(f.controls.consoles.sent('rescue').includes('nope'), 'no pty: read-only');
  const log = await writtenLines(f.server.audit);
  assert.ok(log.some((e) => e.action === 'exec' && e.target === 'console rescue' && e.reason === 'interactive'));
  assert.ok(log.some((e) => e.action === 'exec' && e.target === 'console rescue' && e.reason === 'read-only (no pty)'));
});

test.run();
