// The agent as init starts it: a real process with temp dirs, its ready line, status.json, the API socket and its exit
// codes.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'mvos-agent-test-'));

// The shape the image build writes to /etc/mvos/host.json (plus a field the agent does not know).
const sampleConfig = {
  name: 'test-host',
  version: '1.2.3',
  stateLabel: 'MVOS-STATE',
  agent: { apiListen: '127.0.0.1:8443' },
  futureField: { anything: true },
  vms: [
    {
      name: 'controller',
      role: 'controller',
      launch: 'vm',
      cpus: 1,
      memoryMiB: 512,
      pin: [1],
      kernel: '/usr/lib/mvos/vms/controller/vmlinuz',
      initrd: '/usr/lib/mvos/vms/controller/initrd',
      cmdline: 'console=ttyS0',
      firmware: 'ovmf',
      health: { deadlineSeconds: 300, marker: 'MVOS-GUEST-READY' },
    },
    {
      name: 'rescue',
      role: 'rescue',
      launch: 'novm',
      cpus: 1,
      memoryMiB: 256,
      kernel: '/usr/lib/mvos/vms/rescue/vmlinuz',
      initrd: '/usr/lib/mvos/vms/rescue/initrd',
      cmdline: '',
      firmware: 'none',
      health: { deadlineSeconds: 120, marker: 'MVOS-GUEST-READY' },
    },
  ],
};

interface Agent {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ready: Promise<string>;
  exited: Promise<number | null>;
  runDir: string;
}

let serial = 0;

async function startAgent(config: unknown, extra: string[] = ['--accel', 'tcg'], runDir?: string): Promise<Agent> {
  const name = `case-${++serial}`;
  const configFile = join(dir, `${name}.json`);
  await writeFile(configFile, typeof config === 'string' ? config : JSON.stringify(config));
  const run = runDir ?? join(dir, name, 'run');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'agent/main.ts',
      '--config',
      configFile,
      '--state-dir',
      join(dir, name, 'state'),
      '--run-dir',
      run,
      ...extra,
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    void exited.then((code) => reject(new Error(`agent exited with ${code} before it was ready:\n${err}`)));
  });
  ready.catch(() => undefined);
  return { child, stdout: () => out, stderr: () => err, ready, exited, runDir: run };
}

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('ready line, status.json, GET /status on a 0600 socket, and SIGTERM ends it with 0', async () => {
  const agent = await startAgent(sampleConfig);
  try {
    assert.is(await agent.ready, 'MVOS-AGENT-READY test-host 1.2.3 accel=tcg');
    const status = JSON.parse(await readFile(join(agent.runDir, 'status.json'), 'utf8'));
    assert.equal(status.host, { name: 'test-host', version: '1.2.3' });
    assert.is(status.state, 'ready');
    assert.is(status.accel, 'tcg');
    assert.is(status.pid, agent.child.pid);
    // The supervisor starts the controller at once (its kernel is not there, so it fails); rescue waits for a fallback.
    assert.equal(
      status.vms.map((vm: { name: string }) => vm.name),
      ['controller', 'rescue'],
    );
    assert.ok(['starting', 'running', 'failed'].includes(status.vms[0].state), `controller ${status.vms[0].state}`);
    assert.is(status.vms[1].state, 'stopped');
    const socket = join(agent.runDir, 'agent.sock');
    const mode = (await stat(socket)).mode;
    assert.ok((mode & 0o170000) === 0o140000, 'agent.sock is a socket');
    assert.is((mode & 0o777).toString(8), '600');
    const answer = await get(socket, '/status');
    assert.is(answer.status, 200);
    assert.equal(JSON.parse(answer.body), status);
    const missing = await get(socket, '/nope');
    assert.is(missing.status, 404);
    assert.match(missing.body, 'no such endpoint: /nope');
  } finally {
    agent.child.kill('SIGTERM');
  }
  assert.is(await agent.exited, 0, agent.stderr());
  assert.is(agent.stdout().split('\n').filter(Boolean).length, 1, 'exactly one line on stdout');
  assert.is(await stat(join(agent.runDir, 'agent.sock')).catch(() => 'gone'), 'gone');
  assert.is(JSON.parse(await readFile(join(agent.runDir, 'status.json'), 'utf8')).state, 'stopping');
});

test('--accel auto probes KVM within its timeout and reports what it chose', async () => {
  const agent = await startAgent(sampleConfig, ['--kvm-timeout', '2']);
  try {
    const line = await agent.ready;
    assert.match(line, /^MVOS-AGENT-READY test-host 1\.2\.3 accel=(kvm|tcg)$/);
    const status = JSON.parse(await readFile(join(agent.runDir, 'status.json'), 'utf8'));
    assert.ok(line.endsWith(`accel=${status.accel}`));
    if (status.accel === 'tcg') assert.match(agent.stderr(), 'warning: KVM is not usable');
  } finally {
    agent.child.kill('SIGTERM');
  }
  assert.is(await agent.exited, 0);
});

test('a socket left by an agent that was killed is replaced by the next one', async () => {
  const runDir = join(dir, 'shared-run');
  const first = await startAgent(sampleConfig, ['--accel', 'tcg'], runDir);
  await first.ready;
  first.child.kill('SIGKILL');
  await first.exited;
  assert.ok((await stat(join(runDir, 'agent.sock'))).isSocket(), 'the killed agent left its socket');
  const second = await startAgent(sampleConfig, ['--accel', 'tcg'], runDir);
  try {
    await second.ready;
    assert.is((await get(join(runDir, 'agent.sock'), '/status')).status, 200);
  } finally {
    second.child.kill('SIGTERM');
  }
  assert.is(await second.exited, 0);
});

test('a bad config exits 2 naming the file and every problem, without a stack trace', async () => {
  const bad = { ...sampleConfig, name: undefined, vms: [{ ...sampleConfig.vms[0], cpus: 'two', health: undefined }] };
  const agent = await startAgent(bad);
  assert.is(await agent.exited, 2);
  const err = agent.stderr();
  assert.match(err, /error: the host config .*case-\d+\.json has 3 problems/);
  assert.match(err, '/name: missing (a string is required)');
  assert.match(err, '/vms/0/cpus: must be an integer ≥ 1 (got "two")');
  assert.match(err, '/vms/0/health: missing (an object is required)');
  assert.not.match(err, /^\s+at /m);
  assert.is(agent.stdout(), '');
});

test('a missing config file, broken JSON and an unknown flag exit 2 with a clear message', async () => {
  const missing = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', '--config', join(dir, 'absent.json')], {
    cwd: root,
  });
  let err = '';
  missing.stderr.on('data', (chunk) => (err += chunk));
  assert.is(await new Promise((resolve) => missing.on('close', resolve)), 2);
  assert.match(err, `error: cannot read the host config ${join(dir, 'absent.json')}: no such file`);

  const broken = await startAgent('{"name": ');
  assert.is(await broken.exited, 2);
  assert.match(broken.stderr(), /error: the host config .* is not valid JSON/);

  const flag = await startAgent(sampleConfig, ['--frobnicate']);
  assert.is(await flag.exited, 2);
  assert.match(flag.stderr(), "error: Unknown option '--frobnicate'");
});

test('a self-signed API certificate: its fingerprint on the console and in status.json', async () => {
  const agent = await startAgent({
    ...sampleConfig,
    agent: { apiListen: '127.0.0.1:0', apiTls: { source: 'self-signed' } },
  });
  try {
    await agent.ready;
    const line =
      /api: TLS certificate (\S+) \(self-signed, made on this start\) SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/.exec(
        agent.stderr(),
      );
    assert.ok(line, agent.stderr());
    const status = JSON.parse(await readFile(join(agent.runDir, 'status.json'), 'utf8'));
    assert.match(status.api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(status.api.tls, { source: 'self-signed', certificate: line![1], fingerprint: line![2] });
  } finally {
    agent.child.kill('SIGTERM');
  }
  assert.is(await agent.exited, 0);
});

test('plain HTTP off loopback without apiInsecure exits 2 before listening', async () => {
  const agent = await startAgent({ ...sampleConfig, agent: { apiListen: '0.0.0.0:8443' } });
  const outcome = await Promise.race([
    agent.exited,
    agent.ready.then(
      () => 'ready',
      () => 'exited',
    ),
  ]);
  if (outcome === 'ready') agent.child.kill('SIGTERM');
  assert.is.not(outcome, 'ready', 'the agent served plain HTTP on 0.0.0.0');
  assert.is(await agent.exited, 2);
  assert.match(agent.stderr(), '/agent/apiListen: plain HTTP on 0.0.0.0:8443');
  assert.is(agent.stdout(), '');
});

// A TCP port on loopback held by this test process, as an earlier agent that is still stopping would hold it.
async function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('an API address already taken ends the agent with one line naming the address and its holder, no stack trace', async () => {
  const held = await holdPort();
  try {
    const agent = await startAgent({ ...sampleConfig, agent: { apiListen: `127.0.0.1:${held.port}` } });
    assert.is(await agent.exited, 1);
    const err = agent.stderr();
    assert.match(
      err,
      new RegExp(
        `error: api: cannot listen on 127\\.0\\.0\\.1:${held.port}: the address is already in use by pid ${process.pid} \\(node\\)`,
      ),
    );
    assert.match(err, /hint: stop the other program/);
    assert.not.match(err, /^\s+at /m);
    assert.not.match(err, /doListen|internal error/);
    assert.is(agent.stdout(), '');
  } finally {
    await held.close();
  }
});

test('on the host (--on-listen-failure retry) a taken address leaves the agent running, says so in status, and binds once freed', async () => {
  const held = await holdPort();
  const agent = await startAgent({ ...sampleConfig, agent: { apiListen: `127.0.0.1:${held.port}` } }, [
    '--accel',
    'tcg',
    '--on-listen-failure',
    'retry',
  ]);
  try {
    assert.is(await agent.ready, 'MVOS-AGENT-READY test-host 1.2.3 accel=tcg');
    const socket = join(agent.runDir, 'agent.sock');
    const status = JSON.parse((await get(socket, '/status')).body);
    assert.equal(
      status.listeners.map((l: { name: string; state: string }) => [l.name, l.state]),
      [['api', 'failed']],
    );
    assert.match(status.listeners[0].error, `cannot listen on 127.0.0.1:${held.port}: the address is already in use`);
    assert.ok(
      status.warnings.some((w: string) => w.startsWith('api listener down since')),
      JSON.stringify(status.warnings),
    );
    assert.equal(
      status.vms.map((vm: { name: string }) => vm.name),
      ['controller', 'rescue'],
      'the supervisor runs',
    );
    assert.is(status.api, undefined);
    await held.close();
    const until = Date.now() + 15_000;
    let bound: { listeners: Array<{ state: string }>; api?: { url: string } } = status;
    while (Date.now() < until && bound.listeners[0]!.state !== 'listening') {
      await new Promise((resolve) => setTimeout(resolve, 250));
      bound = JSON.parse((await get(socket, '/status')).body);
    }
    assert.is(bound.listeners[0]!.state, 'listening');
    assert.is(bound.api?.url, `http://127.0.0.1:${held.port}`);
    assert.match(agent.stderr(), `api: listening on 127.0.0.1:${held.port} after all`);
  } finally {
    agent.child.kill('SIGTERM');
    await held.close().catch(() => undefined);
  }
  assert.is(await agent.exited, 0);
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
