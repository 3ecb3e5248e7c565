import type ssh2 from 'ssh2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writtenLines } from '../auth/audit.test-support.ts';
import { connect, type Fixture, run, startFixture } from './fixture.test-support.ts';

let f: Fixture;
let client: ssh2.Client;

test.before.each(async () => {
  f = await startFixture();
  client = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() });
  f.controls.calls.length = 0;
});

test.after.each(async () => {
  client.end();
  await f.cleanup();
});

function failure(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => {
      throw new Error('the request was granted');
    },
    (error: Error) => error.message,
  );
}

test('escape attempts are refused with a message and exit status 2, and nothing is run', async () => {
  const attempts = [
    'status; vm start web',
    'status && vm start web',
    'vm start $(echo web)',
    'vm start `echo web`',
    'vm logs ../../etc/shadow',
    `vm start ${'w'.repeat(100)}`,
    'reboot',
    'bash',
    'bash -i',
    'sh -c "vm start web"',
    'scp -t /',
    'vm start db',
    'vm start web|cat',
    'vm start web > x',
  ];
  for (const command of attempts) {
    const out = await run(client, command);
    assert.is(out.code, 2, command);
    assert.is(out.stdout, '', command);
    assert.match(out.stderr, /^refused: /, command);
  }
  assert.equal(f.controls.changes, []);
  assert.ok(
    f.controls.calls.every((c) => c.method === 'listVms'),
    JSON.stringify(f.controls.calls),
  );
  const refused = (await writtenLines(f.server.audit)).filter((e) => e.action === 'exec');
  assert.is(refused.length, attempts.length);
  assert.ok(refused.every((e) => e.result === 'refused' && e.reason?.startsWith('refused: ')));
});

test('commands call the controls they name, and only those', async () => {
  assert.is((await run(client, 'vm start web')).code, 0);
  const again = await run(client, 'vm start web');
  assert.equal([again.code, again.stderr], [1, 'conflict: web is ready\n']);
  assert.match((await run(client, 'vm status web')).stdout, /^web: ready/);
  assert.is((await run(client, 'vm logs web')).stdout, 'booting\nready\nweb booted\nMVOS-GUEST-READY\n');
  assert.match((await run(client, 'checkpoint create web before')).stdout, /web-1 .*current\s+before/);
  assert.is((await run(client, 'vm stop web')).code, 0);
  assert.is((await run(client, 'checkpoint rollback web web-1')).stdout, 'web rolled back to web-1\n');
  assert.is((await run(client, 'checkpoint rollback web cp9')).code, 1);
  assert.match((await run(client, 'rescue')).stdout, /rescue active: requested over SSH by alice/);
  assert.match((await run(client, 'help')).stdout, /checkpoint rollback VM ID/);
  assert.match(
    (await run(client, 'net list')).stdout,
    /^lan\s+router\s+198\.51\.100\.0\/24\s+dhcp\/dns\s+allow\s+web\s+uplink$/m,
  );
  assert.match(
    (await run(client, 'net status')).stdout,
    /^private\s+wireguard\s+up\s+198\.51\.100\.200:51820\s+12s ago\s+4\.0 KiB\s+2\.0 KiB\s+198\.51\.100\.2 \(20s ago\)$/m,
  );
  const net = (await run(client, 'net web')).stdout;
  assert.match(net, /^lan\s+router\s+198\.51\.100\.2\/24\s+198\.51\.100\.1\s+02:00:00:00:02:01\s+2\.0 KiB/m);
  assert.match(net, /rules:\n {2}1\. deny tcp to any port 25\n$/);
  assert.match((await run(client, 'net nope')).stderr, /no VM named "nope"/);
  assert.equal(
    f.controls.changes.map((c) => [c.method, ...c.args]),
    [
      ['startVm', 'web'],
      ['startVm', 'web'],
      ['createCheckpoint', 'web', 'before'],
      ['stopVm', 'web'],
      ['rollback', 'web', 'web-1', undefined],
      ['rollback', 'web', 'cp9', undefined],
      ['rescue', 'requested over SSH by alice'],
    ],
  );
});

test('console follows a VM until the client types Ctrl-C, and leaves no follower behind', async () => {
  const output = await new Promise<{ text: string; code?: number }>((resolve, reject) => {
    client.exec('console web', (error, stream) => {
      if (error) return reject(error);
      let text = '';
      let code: number | undefined;
      stream.on('data', (d: Buffer) => {
        text += d;
        if (text === 'booting\nready\n') setTimeout(() => f.controls.emitConsole('web', 'login: '), 50);
        if (text.endsWith('login: ')) stream.write('\x03');
      });
      stream.stderr.on('data', () => undefined);
      stream.on('exit', (c: number) => (code = c));
      stream.on('close', () => resolve({ text, code }));
    });
  });
  assert.equal(output, { text: 'booting\nready\nlogin: ', code: 0 });
  assert.is(f.controls.followers('web'), 0);
});

interface Console {
  text: () => string;
  write: (data: string) => void;
  until: (pattern: RegExp) => Promise<void>;
  closed: Promise<number | undefined>;
}

// `console VM` with a pty, as `ssh -t` asks for it.
function openConsole(on: ssh2.Client, vm: string): Promise<Console> {
  return new Promise((resolve, reject) => {
    on.exec(`console ${vm}`, { pty: { term: 'xterm', cols: 80, rows: 24 } }, (error, stream) => {
      if (error) return reject(error);
      let text = '';
      let code: number | undefined;
      const waiting: Array<() => void> = [];
      stream.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        for (const f of waiting.splice(0)) f();
      });
      stream.stderr.on('data', (d: Buffer) => (text += d.toString('latin1')));
      stream.on('exit', (c: number) => (code = c));
      const closed = new Promise<number | undefined>((done) => stream.on('close', () => done(code)));
      const until = async (pattern: RegExp): Promise<void> => {
        const deadline = Date.now() + 5000;
        while (!pattern.test(text)) {
          if (Date.now() > deadline) throw new Error(`${pattern} never came; got ${JSON.stringify(text)}`);
          await new Promise<void>((next) => {
            waiting.push(next);
            setTimeout(next, 100);
          });
        }
      };
      resolve({ text: () => text, write: (data) => stream.write(data), until, closed });
    });
  });
}

test('console with a pty is interactive: a command typed runs in the guest and its output comes back; ~. ends it', async () => {
  const c = await openConsole(client, 'rescue');
  await c.until(/you have the keyboard.*\r\nbooting\nready\n/s);
  c.write('echo hello-rescue\r');
  await c.until(/echo hello-rescue\r\nhello-rescue\r\n# /);
  c.write('ls ~/x\r~.');
  assert.is(await c.closed, 0);
  assert.match(c.text(), /\[console detached\]/);
  assert.is(
    f.controls.consoles.sent('rescue'),
    'echo hello-rescue\rls ~/x\r',
    'a ~ inside a line is typed, the escape is not',
  );
  assert.is(f.controls.followers('rescue'), 0);
  assert.is(f.controls.consoles.broker('rescue').sessions, 0);
  const log = (await writtenLines(f.server.audit)).filter((e) => e.action?.startsWith('console'));
  assert.equal(
    log.map((e) => `${e.who} ${e.action} ${e.result} ${e.target}`),
    ['alice console-open ok rescue', 'alice console-keyboard ok rescue', 'alice console-close ok rescue'],
  );
  assert.not.ok(
    JSON.stringify(await writtenLines(f.server.audit)).includes('hello-rescue'),
    'no keystrokes in the audit log',
  );
});

test('a second console is read-only until it takes the keyboard with ~!; the first is told; without a pty nothing is typed', async () => {
  const first = await openConsole(client, 'rescue');
  await first.until(/you have the keyboard/);
  const other = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code(-1) });
  try {
    const second = await openConsole(other, 'rescue');
    await second.until(/read-only: alice has the keyboard; ~! takes it over/);
    second.write('reboot\r');
    await second.until(/\]\r\n.*read-only/s);
    assert.is(f.controls.consoles.sent('rescue'), '', 'the read-only session typed nothing');
    first.write('echo one\r');
    await second.until(/one\r\n# /);
    second.write('~!');
    await first.until(/alice took the keyboard; read-only now/);
    await second.until(/you have the keyboard\]\r\n$/);
    second.write('echo two\r');
    await first.until(/two\r\n# /);
    first.write('echo three\r');
    await first.until(/read-only: alice has the keyboard/);
    assert.is(f.controls.consoles.sent('rescue'), 'echo one\recho two\r');
    second.write('~.');
    await second.closed;
  } finally {
    other.end();
  }
  // The log holds what the sessions above typed and the guest answered; a read-only console shows it and nothing more.
  const log = await f.controls.consoleLog('rescue');
  const readOnly = await new Promise<string>((resolve, reject) => {
    client.exec('console rescue', (error, stream) => {
      if (error) return reject(error);
      let text = '';
      stream.on('data', (d: Buffer) => {
        text += d;
        if (text === log) stream.write('echo nope\r\x03');
      });
      stream.stderr.on('data', () => undefined);
      stream.on('close', () => resolve(text));
    });
  });
  assert.is(readOnly, log);
  assert.not.ok(f.controls.consoles.sent('rescue').includes('nope'), 'without a pty the console stays read-only');
});

test('shell, sftp, other subsystems, env, X11, agent and port forwarding are all refused; a pty changes nothing but line ends', async () => {
  assert.match(
    await failure(new Promise((resolve, reject) => client.shell((e, s) => (e ? reject(e) : resolve(s))))),
    /Unable to open shell/,
  );
  assert.match(
    await failure(new Promise((resolve, reject) => client.shell(false, (e, s) => (e ? reject(e) : resolve(s))))),
    /Unable to open shell/,
  );
  const withPty = await run(client, 'vm list', { pty: true });
  assert.equal([withPty.code, withPty.stdout.split('\r\n').length], [0, 5], 'with a pty, lines end in CRLF');
  const bash = await run(client, 'bash', { pty: { term: 'xterm' } });
  assert.equal([bash.code, bash.stdout], [2, '']);
  assert.match(bash.stderr, /^refused: unknown command `bash`/);
  assert.match(
    await failure(new Promise((resolve, reject) => client.sftp((e, s) => (e ? reject(e) : resolve(s))))),
    /Unable to start subsystem: sftp/,
  );
  const subsys = (client as unknown as { subsys: (name: string, cb: (e?: Error) => void) => void }).subsys.bind(client);
  assert.match(
    await failure(new Promise((resolve, reject) => subsys('netconf', (e) => (e ? reject(e) : resolve(undefined))))),
    /Unable to start subsystem: netconf/,
  );
  assert.match(await failure(run(client, 'status', { x11: true })), /Unable to request X11/);
  assert.match(
    await failure(
      new Promise((resolve, reject) =>
        client.forwardOut('127.0.0.1', 1234, '127.0.0.1', 22, (e, s) => (e ? reject(e) : resolve(s))),
      ),
    ),
    /Channel open failure/,
  );
  assert.match(
    await failure(
      new Promise((resolve, reject) => client.forwardIn('127.0.0.1', 0, (e, p) => (e ? reject(e) : resolve(p)))),
    ),
    /Unable to bind/,
  );
  const envOut = await run(client, 'status', { env: { LD_PRELOAD: '/tmp/x.so' } });
  assert.is(envOut.code, 0, 'the env request is refused, the command still runs without it');
  const actions = (await writtenLines(f.server.audit)).filter((e) => e.result === 'refused').map((e) => e.action);
  for (const action of ['shell', 'sftp', 'subsystem', 'x11', 'port-forwarding', 'remote-forwarding', 'env'])
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  assert.equal(f.controls.changes, []);
});

test('agent forwarding is refused', async () => {
  client.end();
  client = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code(-1), agentForward: true });
  const out = await run(client, 'status').catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
  assert.ok(
    (await writtenLines(f.server.audit)).some((e) => e.action === 'agent-forwarding' && e.result === 'refused'),
    JSON.stringify(out),
  );
});

test.run();
