// What an authenticated connection may do: exec of jail commands (with a pty, `console VM` is interactive); every
// shell, subsystem, forwarding and env request is refused.

import { PassThrough } from 'node:stream';
import type { UpdateControls } from '../api/update-routes.ts';
import type { VaultControls } from '../api/vault-routes.ts';
import type { AuditLog } from '../auth/audit.ts';
import { ControlError, type Controls } from '../controls.ts';
import { parseCommand } from './commands.ts';
import { interactiveConsole } from './console.ts';
import { LOG_TAIL_BYTES, runJailCommand } from './jail.ts';
import type { Connection, ServerChannel, Session } from './ssh2.ts';

// Who is connected and what serves them.
export interface SessionContext {
  user: string;
  source: string;
  controls: Controls;
  audit: AuditLog;
  update?: UpdateControls;
  vault?: VaultControls;
  // The key this connection logged in with (an OpenSSH line).
  publicKey?: string;
}

// Ctrl-C and Ctrl-] end a followed console without a pty (the bytes arrive as they are typed).
const CONSOLE_EXIT = new Set([0x03, 0x1d]);

function record(
  ctx: SessionContext,
  action: string,
  result: 'ok' | 'refused' | 'error',
  target?: string,
  reason?: string,
): Promise<void> {
  return ctx.audit
    .record({
      who: ctx.user,
      source: ctx.source,
      action,
      result,
      ...(target ? { target: target.slice(0, 300) } : {}),
      ...(reason ? { reason } : {}),
    })
    .catch(() => undefined);
}

function finish(channel: ServerChannel, exitCode: number, stdout: string, stderr: string): void {
  // The client may have gone while the command ran; its answer then has nowhere to go.
  if (channel.destroyed) return;
  if (stdout) channel.write(stdout);
  if (stderr) channel.stderr.write(stderr);
  channel.exit(exitCode);
  channel.end();
}

// Streams a VM's console: the recent log, then new output until the client leaves or types Ctrl-C / Ctrl-].
function followConsole(channel: ServerChannel, ctx: SessionContext, vm: string): void {
  let stop: (() => void) | undefined;
  const end = (): void => {
    stop?.();
    stop = undefined;
  };
  channel.on('close', end);
  channel.on('data', (data: Buffer) => {
    if (!data.some((byte) => CONSOLE_EXIT.has(byte)) || !stop) return;
    end();
    finish(channel, 0, '', '\r\n[console detached]\r\n');
  });
  ctx.controls.consoleLog(vm, { tailBytes: LOG_TAIL_BYTES }).then(
    (log) => {
      if (channel.destroyed) return;
      channel.write(log);
      stop = ctx.controls.followConsole(vm, (chunk) => channel.write(chunk));
    },
    (error: Error) => finish(channel, 1, '', `${error.message}\n`),
  );
}

// With a pty the client's terminal is raw: line ends need their carriage return.
function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

async function exec(channel: ServerChannel, ctx: SessionContext, raw: string, pty: boolean): Promise<void> {
  const parsed = parseCommand(
    raw,
    ctx.controls.listVms().map((vm) => vm.name),
  );
  if (!parsed.ok) {
    await record(ctx, 'exec', 'refused', raw, parsed.message);
    return finish(channel, 2, '', pty ? crlf(`${parsed.message}\n`) : `${parsed.message}\n`);
  }
  if (parsed.command.kind === 'console') {
    await record(ctx, 'exec', 'ok', raw, pty ? 'interactive' : 'read-only (no pty)');
    if (!pty) return followConsole(channel, ctx, parsed.command.vm);
    const viewer = {
      who: ctx.user,
      source: ctx.source,
      audit: (entry: Parameters<AuditLog['record']>[0]) => void ctx.audit.record(entry).catch(() => undefined),
    };
    const code = await interactiveConsole(channel, ctx.controls, parsed.command.vm, viewer);
    return finish(channel, code, '', '');
  }
  if (parsed.command.kind === 'update-apply') return applyFromStdin(channel, ctx, raw, parsed.command.reboot);
  if (parsed.command.kind === 'vault-unlock') return unlockFromStdin(channel, ctx, raw);
  const out = await runJailCommand(parsed.command, ctx.controls, ctx.user, {
    ...(ctx.update ? { update: ctx.update } : {}),
    ...(ctx.vault ? { vault: ctx.vault } : {}),
    ...(ctx.publicKey ? { publicKey: ctx.publicKey } : {}),
  });
  await record(
    ctx,
    'exec',
    out.exitCode === 0 ? 'ok' : 'error',
    raw,
    out.exitCode === 0 ? undefined : out.stderr.trim(),
  );
  finish(channel, out.exitCode, pty ? crlf(out.stdout) : out.stdout, pty ? crlf(out.stderr) : out.stderr);
}

// A streamed command's failure: a ControlError is its answer (exit 1), anything else an internal error (exit 70).
async function fail(channel: ServerChannel, ctx: SessionContext, raw: string, error: unknown): Promise<void> {
  const message =
    error instanceof ControlError ? `${error.kind}: ${error.message}` : `internal error: ${(error as Error).message}`;
  await record(ctx, 'exec', 'error', raw, message);
  finish(channel, error instanceof ControlError ? 1 : 70, '', `${message}\n`);
}

// `update apply`: the bundle is what the client sends on stdin (`ssh HOST update apply < B.mvu`), checked whole before
// the ESP changes.
async function applyFromStdin(
  channel: ServerChannel,
  ctx: SessionContext,
  raw: string,
  reboot: boolean,
): Promise<void> {
  if (!ctx.update) {
    await record(ctx, 'exec', 'error', raw, 'this agent takes no updates');
    return finish(channel, 1, '', 'not-found: this agent takes no updates\n');
  }
  // Through a stream of its own: the bundle's reader ends it, and the channel must stay to carry the answer.
  const body = new PassThrough();
  channel.pipe(body);
  try {
    const applied = await ctx.update.apply(body, ctx.user, reboot);
    await record(ctx, 'exec', 'ok', raw, `${applied.version} to slot ${applied.slot}`);
    finish(
      channel,
      0,
      `${applied.version} written to slot ${applied.slot} (${applied.bytes} bytes), checked and read back; ${applied.rebooting ? 'rebooting into it' : 'the next boot tries it once'}\n`,
      '',
    );
  } catch (error) {
    await fail(channel, ctx, raw, error);
  } finally {
    channel.unpipe(body);
  }
}

// The most a passphrase sent on stdin may be, and how long the jail waits for it.
const PASSPHRASE_MAX_BYTES = 1024;
const PASSPHRASE_WAIT_MS = 60_000;

// Reads stdin's first line (bounded in size and time) without echoing it anywhere.
function firstLine(channel: ServerChannel): Promise<string | undefined> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const done = (line: string | undefined): void => {
      clearTimeout(timer);
      channel.off('data', take);
      channel.off('end', ended);
      data.fill(0);
      resolve(line);
    };
    const take = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      // Enter is a line feed from a pipe and a carriage return from a terminal (ssh -t).
      const end = data.findIndex((byte) => byte === 0x0a || byte === 0x0d);
      if (end > PASSPHRASE_MAX_BYTES || (end < 0 && data.length > PASSPHRASE_MAX_BYTES)) done(undefined);
      else if (end >= 0) done(data.subarray(0, end).toString('utf8'));
    };
    const ended = (): void =>
      done(data.length > 0 && data.length <= PASSPHRASE_MAX_BYTES ? data.toString('utf8') : undefined);
    const timer = setTimeout(() => done(undefined), PASSPHRASE_WAIT_MS);
    channel.on('data', take);
    channel.once('end', ended);
  });
}

// `vault unlock`: the passphrase is the first line on stdin (`ssh HOST vault unlock < file`, or typed with ssh -t
// off), never a word of the command, so it is in no audit line or process list.
async function unlockFromStdin(channel: ServerChannel, ctx: SessionContext, raw: string): Promise<void> {
  if (!ctx.vault) {
    await record(ctx, 'exec', 'error', raw, 'this agent keeps no vault');
    return finish(channel, 1, '', 'not-found: this agent keeps no vault\n');
  }
  const passphrase = await firstLine(channel);
  if (passphrase === undefined) {
    await record(ctx, 'exec', 'error', raw, 'no passphrase on stdin');
    return finish(channel, 2, '', `send the passphrase as one line on stdin (at most ${PASSPHRASE_MAX_BYTES} bytes)\n`);
  }
  try {
    const view = await ctx.vault.unlock({ passphrase }, ctx.user);
    await record(ctx, 'exec', 'ok', raw);
    finish(channel, 0, `vault ${view.state}, ${view.entries?.length ?? 0} entries\n`, '');
  } catch (error) {
    await fail(channel, ctx, raw, error);
  }
}

function refuseAll(session: Session, ctx: SessionContext): void {
  const refuse = (what: string) => (_accept: unknown, reject?: () => void) => {
    void record(ctx, what, 'refused', undefined, 'not offered by the command jail');
    reject?.();
  };
  session.on('shell', refuse('shell'));
  session.on('x11', refuse('x11'));
  session.on('auth-agent', refuse('agent-forwarding'));
  session.on('sftp', refuse('sftp'));
  session.on('env', refuse('env'));
  session.on('subsystem', (_accept, reject, info) => {
    void record(ctx, 'subsystem', 'refused', info.name, 'not offered by the command jail');
    reject();
  });
}

// Serves one authenticated connection: exec runs a jail command per session channel; forwarding of any kind is refused.
export function serveConnection(client: Connection, ctx: SessionContext): void {
  client.on('session', (accept) => {
    const session = accept();
    refuseAll(session, ctx);
    // A pty is granted (it only changes how `console VM` runs); a shell after it is still refused.
    let pty = false;
    session.on('pty', (acceptPty) => {
      pty = true;
      void record(ctx, 'pty', 'ok');
      acceptPty?.();
    });
    // A serial line has no window size to pass on.
    session.on('window-change', (acceptChange) => acceptChange?.());
    session.once('exec', (acceptExec, _reject, info) => {
      const channel = acceptExec();
      exec(channel, ctx, info.command, pty).catch((error: Error) =>
        finish(channel, 70, '', `internal error: ${error.message}\n`),
      );
    });
  });
  client.on('tcpip', (_accept, reject, info) => {
    void record(ctx, 'port-forwarding', 'refused', `${info.destIP}:${info.destPort}`, 'no forwarding (-L)');
    reject();
  });
  client.on('openssh.streamlocal', (_accept, reject, info) => {
    void record(ctx, 'port-forwarding', 'refused', info.socketPath, 'no forwarding (unix socket)');
    reject();
  });
  client.on('request', (_accept, reject, name, info) => {
    const where =
      'bindAddr' in (info ?? {})
        ? `${(info as { bindAddr: string }).bindAddr}:${(info as { bindPort: number }).bindPort}`
        : undefined;
    void record(ctx, 'remote-forwarding', 'refused', where ?? name, 'no forwarding (-R)');
    reject?.();
  });
}
