import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlError } from '../controls.ts';
import { ConsoleBroker, type ConsoleViewer, INPUT_LIMITS, socketInput } from './broker.ts';
import { type ConsoleSource, MemoryConsoles, serveShellConsole } from './memory-consoles.test-support.ts';
import { openConsole } from './reader.ts';

type Line = Parameters<ConsoleViewer['audit']>[0];

function viewer(who: string, lines: Line[]): ConsoleViewer {
  return { who, source: '192.0.2.1', audit: (entry) => lines.push(entry) };
}

function memory(text = 'boot\n') {
  let log = text;
  const followers = new Set<(chunk: Buffer) => void>();
  const source: ConsoleSource = {
    text: () => log,
    follow: (_vm, listener) => {
      followers.add(listener);
      return () => followers.delete(listener);
    },
    running: () => true,
    emit: (_vm, more) => {
      log += more;
      for (const f of followers) f(Buffer.from(more));
    },
  };
  const consoles = new MemoryConsoles(source);
  return { consoles, followers, emit: (more: string) => source.emit('rescue', more) };
}

function collect(session: { onData(l: (c: Buffer) => void): void }): () => string {
  let out = '';
  session.onData((chunk) => (out += chunk.toString('latin1')));
  return () => out;
}

async function refusedWith(kind: ControlError['kind'], work: () => unknown): Promise<string> {
  try {
    await work();
  } catch (error) {
    assert.instance(error, ControlError);
    assert.is((error as ControlError).kind, kind, (error as Error).message);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

test('viewers get the scrollback and live output; the one writer types into the guest and every viewer sees it', async () => {
  const { consoles } = memory('rescue login: ');
  const lines: Line[] = [];
  const alice = consoles.open('rescue', viewer('alice', lines), { write: true, back: 1024 });
  const bob = consoles.open('rescue', viewer('bob', lines), { back: 7 });
  const aliceOut = collect(alice);
  const bobOut = collect(bob);
  assert.ok(alice.writer);
  assert.not.ok(bob.writer);
  await alice.write('echo hi\r');
  await tick();
  assert.is(consoles.sent('rescue'), 'echo hi\r');
  assert.is(aliceOut(), 'rescue login: echo hi\r\nhi\r\n# ');
  assert.is(bobOut(), 'login: echo hi\r\nhi\r\n# ', 'a viewer gets the same output (its own scrollback length)');
  await refusedWith('conflict', () => bob.write('reboot\r'));
  assert.not.ok(consoles.sent('rescue').includes('reboot'), 'a viewer without the keyboard sends nothing');
});

test('a second writer is refused; with force it takes over and the first is told; audit lines name who and the VM, never keystrokes', async () => {
  const { consoles } = memory();
  const lines: Line[] = [];
  const alice = consoles.open('rescue', viewer('alice', lines), { write: true });
  const told: unknown[] = [];
  alice.onKeyboard((state) => told.push(state));
  const message = await refusedWith('conflict', () => consoles.open('rescue', viewer('bob', lines), { write: true }));
  assert.match(message, /alice has the keyboard/);
  const bob = consoles.open('rescue', viewer('bob', lines));
  await refusedWith('conflict', () => bob.takeKeyboard());
  bob.takeKeyboard(true);
  assert.ok(bob.writer);
  assert.not.ok(alice.writer);
  assert.equal(told, [{ writer: false, holder: 'bob', takenBy: 'bob' }]);
  await refusedWith('conflict', () => alice.write('secret-password\r'));
  await bob.write('passw0rd-typed\r');
  bob.close();
  alice.close();
  assert.is(consoles.broker('rescue').sessions, 0);
  assert.equal(
    lines.map((l) => `${l.who} ${l.action} ${l.result}`),
    [
      'alice console-open ok',
      'alice console-keyboard ok',
      'bob console-open refused',
      'bob console-open ok',
      'bob console-keyboard refused',
      'bob console-takeover ok',
      'bob console-close ok',
      'alice console-close ok',
    ],
  );
  assert.ok(lines.every((l) => l.target === 'rescue' && l.source === '192.0.2.1'));
  const text = JSON.stringify(lines);
  assert.not.ok(text.includes('passw0rd') || text.includes('secret-password'), 'no keystrokes in the audit');
});

test('input is bounded: one write, the rate, and a guest that does not read', async () => {
  let pending = 0;
  const broker = new ConsoleBroker('rescue', {
    follow: () => () => undefined,
    connect: async () => ({
      write: (d) => {
        pending += d.length;
      },
      pending: () => pending,
      close: () => undefined,
      onClose: () => undefined,
    }),
  });
  const s = broker.open(viewer('alice', []), { write: true });
  await refusedWith('invalid', () => s.write(Buffer.alloc(INPUT_LIMITS.maxWriteBytes + 1)));
  let sent = 0;
  let limited = '';
  try {
    for (let i = 0; i < 1000; i++) {
      await s.write(Buffer.alloc(4096, 0x61));
      sent += 4096;
    }
  } catch (error) {
    limited = (error as ControlError).kind;
  }
  assert.is(limited, 'limited');
  assert.ok(
    sent <= INPUT_LIMITS.maxPendingBytes && sent <= INPUT_LIMITS.burstBytes + 4096,
    `a flood stops after ${sent} bytes`,
  );
});

test('no keyboard for a VM that is not running; closing the writer frees it and lets the socket go', async () => {
  let running = false;
  let closed = 0;
  const broker = new ConsoleBroker('web', {
    follow: () => () => undefined,
    connect: async () => {
      if (!running) throw new Error('connect ENOENT');
      return { write: () => undefined, pending: () => 0, close: () => void closed++, onClose: () => undefined };
    },
  });
  const a = broker.open(viewer('alice', []), { write: true });
  assert.match(await refusedWith('conflict', () => a.write('x')), /not running/);
  running = true;
  await a.write('x');
  const b = broker.open(viewer('bob', []));
  const told: unknown[] = [];
  b.onKeyboard((state) => told.push(state));
  a.close();
  await tick();
  assert.is(closed, 1);
  assert.equal(told, [{ writer: false }]);
  b.takeKeyboard();
  assert.ok(b.writer);
  assert.is(broker.keyboardHolder, 'bob');
});

test('over a real console socket: a fake guest answers like a shell, its output comes back through the reader', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'broker-'));
  const files = {
    spool: join(dir, 'serial.log'),
    log: join(dir, 'console.log'),
    state: join(dir, 'console.state.json'),
  };
  await writeFile(files.spool, 'rescue login: root\r\n# ');
  const sock = join(dir, 'console.sock');
  const { server, clients } = await serveShellConsole(sock, 'rescue', files.spool);
  try {
    const broker = new ConsoleBroker('rescue', {
      follow: (listener, back) => {
        const feed = openConsole(files, { pollMs: 10 });
        feed.subscribe((chunk) => listener(chunk), { back });
        return () => void feed.release();
      },
      connect: () => socketInput(sock),
    });
    const s = broker.open(viewer('alice', []), { write: true, back: 4096 });
    const out = collect(s);
    await s.write('echo from-the-guest\r');
    for (let i = 0; i < 200 && !out().includes('from-the-guest\r\n# '); i++) await tick();
    assert.match(out(), /^rescue login: root\r\n# echo from-the-guest\r\nfrom-the-guest\r\n# $/);
    assert.is(clients.length, 1, 'one connection to the console socket');
    s.close();
    for (let i = 0; i < 100 && !clients[0]!.destroyed; i++) await tick();
    assert.ok(clients[0]!.destroyed || clients[0]!.readableEnded, 'the socket is let go with the keyboard');
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
