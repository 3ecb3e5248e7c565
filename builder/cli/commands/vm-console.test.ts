// `mvos vm console` in a real terminal (tmux): type, read, escape, and the terminal as it was, also when the agent
// goes.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { generate } from 'otplib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../main.ts';
import { AgentClient } from './vm-client.ts';
import { runConsole } from './vm-console.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const server = spawn(process.execPath, ['--import', 'tsx', 'agent/api/serve-fixture.test-support.ts'], {
  cwd: root,
  stdio: ['pipe', 'pipe', 'inherit'],
});
const replies = createInterface({ input: server.stdout });
const info = JSON.parse(await new Promise<string>((resolve) => replies.once('line', resolve))) as {
  socket: string;
  url: string;
  users: Array<{ name: string; password: string; secret?: string }>;
};
const dir = await mkdtemp(join(tmpdir(), 'mvos-console-'));
const tmuxSocket = `mvos-console-test-${process.pid}`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', tmuxSocket, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TERM: 'xterm' },
  });
}

const screen = (pane: string): string => tmux('capture-pane', '-p', '-J', '-t', pane);

async function until(pane: string, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const text = screen(pane);
    if (pattern.test(text)) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${pattern} never showed; the screen:\n${screen(pane)}`);
}

async function file(path: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text?.includes('\n')) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} never came`);
}

// A terminal running `mvos vm console VM` between two `stty -a`, with its exit status written down.
async function terminal(name: string, vm: string, extra = ''): Promise<string> {
  const script = join(dir, `${name}.sh`);
  await writeFile(
    script,
    `stty -a > ${dir}/${name}.before\n${join(root, 'mvos')} vm console ${vm} --socket ${info.socket} ${extra}\necho "exit=$?" > ${dir}/${name}.code\nstty -a > ${dir}/${name}.after\nsleep 60\n`,
  );
  tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', `sh ${script}`);
  return `${name}:0.0`;
}

test('type a command, read its output, leave with ~.: exit 0 and the terminal as it was', async () => {
  assert.is(
    await main(['vm', 'start', 'rescue', '--socket', info.socket], { out: () => undefined, err: () => undefined }),
    0,
  );
  const pane = await terminal('one', 'rescue');
  await until(pane, /you have the keyboard/);
  tmux('send-keys', '-t', pane, '-l', 'echo typed-in-tmux');
  tmux('send-keys', '-t', pane, 'Enter');
  await until(pane, /^typed-in-tmux$/m);
  // In raw mode Ctrl-C is the guest's, not the end of mvos.
  tmux('send-keys', '-t', pane, 'C-c');
  tmux('send-keys', '-t', pane, 'Enter');
  tmux('send-keys', '-t', pane, '-l', '~.');
  await until(pane, /\[console detached\]/);
  assert.is(await file(join(dir, 'one.code')), 'exit=0\n');
  assert.is(await file(join(dir, 'one.after')), await file(join(dir, 'one.before')), 'stty -a before = after');
});

test('--host: logs in first, then (no terminal here, so no raw mode) types, reads and leaves with ~.', async () => {
  const alice = info.users.find((u) => u.name === 'alice')!;
  const agent = new AgentClient({
    host: info.url,
    login: async () => ({ user: 'alice', password: alice.password, code: await generate({ secret: alice.secret! }) }),
  });
  const stdin = new PassThrough();
  let out = '';
  const stdout = new Writable({
    write(chunk, _encoding, done) {
      out += chunk;
      done();
    },
  });
  const running = runConsole(agent, 'rescue', { force: true, io: { stdin, stdout } });
  const seen = async (pattern: RegExp): Promise<void> => {
    for (let i = 0; i < 200 && !pattern.test(out); i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(out, pattern);
  };
  await seen(/\[you have the keyboard\]/);
  stdin.write('echo via-host\r');
  await seen(/echo via-host\r\nvia-host\r\n# /);
  stdin.write('~.');
  assert.is(await running, 0);
  assert.match(out, /\[console detached\]\r\n$/);
});

test('a second console is read-only until --force; the agent going away ends it with exit 1 and a clean terminal', async () => {
  const first = await terminal('two', 'rescue');
  await until(first, /you have the keyboard/);
  const second = await terminal('three', 'rescue');
  await until(second, /read-only: root has the keyboard of rescue; ~! takes it over/);
  tmux('send-keys', '-t', second, '-l', 'echo nope');
  await until(second, /read-only: root has the keyboard; ~! takes it over/);
  tmux('send-keys', '-t', second, 'Enter');
  tmux('send-keys', '-t', second, '-l', '~!');
  await until(first, /root took the keyboard; read-only now/);
  tmux('send-keys', '-t', second, '-l', 'echo from-second');
  tmux('send-keys', '-t', second, 'Enter');
  await until(first, /^from-second$/m);
  server.stdin.end();
  await until(second, /connection to the agent was lost/);
  assert.is(await file(join(dir, 'three.code')), 'exit=1\n');
  assert.is(
    await file(join(dir, 'three.after')),
    await file(join(dir, 'three.before')),
    'stty -a before = after a dropped connection',
  );
  assert.is(await file(join(dir, 'two.after')), await file(join(dir, 'two.before')));
});

test.after(async () => {
  try {
    tmux('kill-server');
  } catch {
    // Already gone.
  }
  if (server.exitCode === null) server.kill();
  await rm(dir, { recursive: true, force: true });
});

test.run();
