// `mvos vm` against a real agent API (the agent's test fixture in its own process): socket and --host login, output and
// exit codes.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generate } from 'otplib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../main.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const server = spawn(process.execPath, ['--import', 'tsx', 'agent/api/serve-fixture.test-support.ts'], {
  cwd: root,
  stdio: ['pipe', 'pipe', 'inherit'],
});
const replies = createInterface({ input: server.stdout });
const nextLine = () => new Promise<string>((resolve) => replies.once('line', resolve));
const info = JSON.parse(await nextLine()) as {
  url: string;
  socket: string;
  users: Array<{ name: string; password: string; secret?: string }>;
};

// Tells the fixture process to do something to its fake VMs, once it has.
async function fixture(command: string): Promise<void> {
  const reply = nextLine();
  server.stdin.write(`${command}\n`);
  assert.is(await reply, 'done');
}
const bob = info.users.find((u) => u.name === 'bob')!;

async function mvos(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const onSocket = (...argv: string[]) => mvos('vm', ...argv, '--socket', info.socket);

function raw(path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    request({ socketPath: info.socket, path }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    })
      .on('error', reject)
      .end();
  });
}

test('vm list --json prints exactly what the API answers; the table shows state and health', async () => {
  const listed = await onSocket('list', '--json');
  assert.is(listed.code, 0, listed.err);
  assert.equal(JSON.parse(listed.out), await raw('/api/vms'));
  const table = await onSocket('list');
  assert.match(table.out, /^NAME\s+ROLE\s+LAUNCH\s+STATE\s+HEALTH$/m);
  assert.match(table.out, /^controller\s+controller\s+vm\s+ready\s+ready at /m);
});

test('vm status shows the pinning plan and history; --json is the API document', async () => {
  const human = await onSocket('status', 'web');
  assert.match(human.out, /^web: ready \(application, vm\)$/m);
  assert.match(human.out, /pinning: vCPU 0→CPU \d+; emulator 0; housekeeping 0/);
  assert.match(human.out, /history:\n\s+\S+ started/);
  assert.equal(JSON.parse((await onSocket('status', 'web', '--json')).out), await raw('/api/vms/web'));
});

test('vm stop and start change the state; a refused action is exit 1, an unknown VM exit 2, a missing name exit 2', async () => {
  assert.equal(await onSocket('stop', 'web'), { code: 0, out: 'web: stopped', err: '' });
  const again = await onSocket('stop', 'web');
  assert.is(again.code, 1);
  assert.match(again.err, /web is already stopped/);
  assert.equal(await onSocket('start', 'web'), { code: 0, out: 'web: ready', err: '' });
  const unknown = await onSocket('start', 'nope');
  assert.is(unknown.code, 2);
  assert.match(unknown.err, /no VM named "nope"/);
  assert.is((await onSocket('start')).code, 2);
});

test('a start that ends with the VM failed is exit 1 with the reason and a hint', async () => {
  await onSocket('stop', 'web');
  await fixture('fail web missed its health deadline');
  const failed = await onSocket('start', 'web');
  assert.is(failed.code, 1);
  assert.match(failed.err, /web failed to start: missed its health deadline/);
  assert.match(failed.err, /mvos vm logs web/);
  assert.match((await onSocket('list')).out, /^web\s+application\s+vm\s+failed\s+failed: missed its health deadline$/m);
  assert.equal(await onSocket('start', 'web'), { code: 0, out: 'web: ready', err: '' });
  // Ready again: the health column says now, the failure stays in the history (and `status` shows it there).
  const web = (await raw('/api/vms/web')) as { readyAt: string; failure?: unknown };
  assert.ok(web.failure, 'the agent keeps the last failure');
  assert.match(
    (await onSocket('list')).out,
    new RegExp(`^web\\s+application\\s+vm\\s+ready\\s+ready at ${web.readyAt}$`, 'm'),
  );
  assert.match((await onSocket('status', 'web')).out, /failed: missed its health deadline/);
});

test('vm checkpoint takes and lists checkpoints; rollback of a running VM needs --restart', async () => {
  const made = JSON.parse((await onSocket('checkpoint', 'web', '--label', 'before upgrade', '--json')).out);
  assert.is(made.label, 'before upgrade');
  assert.ok(made.current);
  const listed = await onSocket('checkpoint', 'web', '--list');
  assert.match(listed.out, new RegExp(`^${made.id}\\s+before upgrade\\s+.*current$`, 'm'));
  assert.match(listed.out, /^web-base\s+base\s+.*pinned$/m);
  const refused = await onSocket('rollback', 'web', 'web-base');
  assert.is(refused.code, 1);
  assert.match(refused.err, /stop it first/);
  const done = await onSocket('rollback', 'web', 'web-base', '--restart');
  assert.equal(done, { code: 0, out: 'web: rolled back to web-base (ready)', err: '' });
  const after = JSON.parse((await onSocket('checkpoint', 'web', '--list', '--json')).out);
  assert.ok(after.find((c: { id: string }) => c.id === 'web-base').current);
  assert.is((await onSocket('rollback', 'web')).code, 2, 'no id');
});

test('vm net shows the links with counters; vm rules shows and --set replaces the rules; net list and net rules', async () => {
  const net = await onSocket('net', 'web');
  assert.is(net.code, 0, net.err);
  assert.match(net.out, /^NETWORK\s+ADDRESS\s+GATEWAY\s+MAC\s+ROUTER\s+SENT\s+RECEIVED\s+FORWARDS\s+WAY OUT$/m);
  assert.match(
    net.out,
    /^lan\s+198\.51\.100\.2\/24\s+198\.51\.100\.1\s+02:00:00:00:02:01\s+router\s+2\.0 KiB \(20 pk\)\s+4\.0 KiB \(30 pk\)\s+tcp 8080→80\s+uplink$/m,
  );
  assert.equal(JSON.parse((await onSocket('net', 'web', '--json')).out), await raw('/api/vms/web/net'));
  assert.is((await onSocket('net', 'controller')).out, 'controller is on no network');
  assert.match((await onSocket('rules', 'web')).out, /^web:\n {2}1\. deny tcp to any port 25$/m);
  const file = join(tmpdir(), `mvos-rules-${process.pid}.yaml`);
  writeFileSync(
    file,
    '- { action: allow, proto: tcp, to: www.example.test, port: 443 }\n- { action: deny, proto: udp, port: 5000-5999 }\n',
  );
  const set = await onSocket('rules', 'web', '--set', file);
  assert.is(set.code, 0, set.err);
  assert.match(set.out, / {2}1\. allow tcp to www\.example\.test port 443\n {2}2\. deny udp to any port 5000-5999/);
  writeFileSync(file, '- { action: allow, proto: tcp, port: 99999 }\n');
  const bad = await onSocket('rules', 'web', '--set', file);
  assert.is(bad.code, 2, "a rule the agent refuses is the user's error");
  assert.match(bad.err, /must be a port/);
  const listed = await mvos('net', 'list', '--socket', info.socket);
  assert.match(listed.out, /^lan\s+router\s+198\.51\.100\.0\/24\s+dhcp\/dns\s+allow\s+web\s+uplink$/m);
  assert.match(
    listed.out,
    /^private\s+gw\s+203\.0\.113\.0\/26\s+dhcp\/dns\s+allow\s+wireguard up, exit 198\.51\.100\.2$/m,
  );
  assert.match(listed.out, /^router router: stopped, uplink tap mvup0, dhcp$/m);
  assert.match(
    (await mvos('net', 'rules', '--socket', info.socket)).out,
    /^web:\n {2}1\. allow tcp to www\.example\.test port 443/m,
  );
  assert.is((await mvos('net', 'rules', 'controller', '--socket', info.socket)).code, 2);
  const status = await mvos('net', 'status', '--socket', info.socket);
  assert.is(status.code, 0, status.err);
  assert.match(status.out, /^NETWORK\s+PROVIDER\s+STATE\s+ENDPOINT\s+HANDSHAKE\s+RECEIVED\s+SENT\s+EXIT ADDRESS$/m);
  assert.match(
    status.out,
    /^private\s+wireguard\s+up\s+198\.51\.100\.200:51820\s+12s ago\s+4\.0 KiB\s+2\.0 KiB\s+198\.51\.100\.2 \(20s ago\)$/m,
  );
  assert.not.match(status.out, /^lan/m, 'only VPN networks');
  const restarted = await mvos('net', 'restart', 'private', '--socket', info.socket);
  assert.is(restarted.code, 0, restarted.err);
  assert.is(restarted.out, 'private: tunnel vpn0 restarted');
  assert.is((await mvos('net', 'restart', 'lan', '--socket', info.socket)).code, 2, 'a network without a tunnel');
  assert.is((await mvos('net', 'restart', '--socket', info.socket)).code, 2);
});

test('vm logs prints the console; --tail cuts it; --json is refused for logs', async () => {
  const log = await onSocket('logs', 'controller');
  assert.match(log.out, /MVOS-GUEST-READY/);
  const tail = await onSocket('logs', 'controller', '--tail', '17');
  assert.is(tail.out, 'MVOS-GUEST-READY');
  assert.is((await onSocket('logs', 'controller', '--json')).code, 2);
  assert.is((await onSocket('logs', 'controller', '--tail', 'lots')).code, 2);
});

test('--host logs in with --user, MVOS_PASSWORD and MVOS_OTP and sees the same as the socket; bad logins are clear errors', async () => {
  process.env.MVOS_PASSWORD = bob.password;
  process.env.MVOS_OTP = '000000';
  const wrong = await mvos('vm', 'list', '--host', info.url, '--user', 'bob');
  assert.is(wrong.code, 2);
  assert.match(wrong.err, /refused the login: wrong user, password or code/);
  process.env.MVOS_OTP = await generate({ secret: bob.secret! });
  const listed = await mvos('vm', 'list', '--json', '--host', info.url, '--user', 'bob');
  assert.is(listed.code, 0, listed.err);
  assert.equal(JSON.parse(listed.out), await raw('/api/vms'));
  const noUser = await mvos('vm', 'list', '--host', info.url);
  assert.is(noUser.code, 2);
  assert.match(noUser.err, /--user/);
  const both = await mvos('vm', 'list', '--host', info.url, '--socket', info.socket);
  assert.is(both.code, 2);
  delete process.env.MVOS_PASSWORD;
  delete process.env.MVOS_OTP;
});

test('no agent: exit 1 with a hint naming --socket and --host', async () => {
  const gone = await mvos('vm', 'list', '--socket', '/nonexistent/agent.sock');
  assert.is(gone.code, 1);
  assert.match(gone.err, /the agent is not running: nothing answers on \/nonexistent\/agent.sock/);
  assert.match(gone.err, /--socket PATH/);
  const noPassword = await mvos('vm', 'list', '--host', 'http://127.0.0.1:9', '--user', 'x');
  assert.is(noPassword.code, 2, 'no password and stdin is no terminal');
  assert.match(noPassword.err, /MVOS_PASSWORD/);
  process.env.MVOS_PASSWORD = 'x';
  process.env.MVOS_OTP = '123456';
  const closed = await mvos('vm', 'list', '--host', 'http://127.0.0.1:9', '--user', 'x');
  delete process.env.MVOS_PASSWORD;
  delete process.env.MVOS_OTP;
  assert.is(closed.code, 1);
  assert.match(closed.err, /cannot reach the agent at http:\/\/127.0.0.1:9/);
  assert.is((await mvos('vm', 'list', '--host', 'ftp://x')).code, 2);
});

test('vm logs --follow prints console lines as they come, until the agent goes away', async () => {
  const lines: string[] = [];
  const following = main(['vm', 'logs', 'web', '--follow', '--socket', info.socket], {
    out: (l) => lines.push(l),
    err: (l) => lines.push(`err: ${l}`),
  });
  while (!lines.some((l) => l.includes('MVOS-GUEST-READY'))) await new Promise((r) => setTimeout(r, 20));
  await fixture('console web live line one');
  while (!lines.includes('live line one')) await new Promise((r) => setTimeout(r, 20));
  server.stdin.end();
  assert.is(await following, 0);
});

test.after(() => {
  if (server.exitCode === null) server.kill();
});
test.run();
