// How `mvos vm` and `mvos net` reach an agent: its unix socket, or a remote API with a login; and how they print.
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { UserError } from '../../../common/errors.ts';
import type { CommandContext, Flags } from '../command.ts';
import { AgentClient, DEFAULT_SOCKET } from './vm-client.ts';

// The flags that say which agent to talk to.
export const connection: Flags = {
  socket: { type: 'string' },
  host: { type: 'string' },
  tor: { type: 'string' },
  user: { type: 'string' },
};

// What those flags mean, for --help.
export const connectionHelp: Record<string, string> = {
  socket: `the agent's unix socket (default ${DEFAULT_SOCKET}; root only)`,
  host:
    'a remote agent URL (agent.apiListen), e.g. http://192.0.2.10:8443; logs in with --user, MVOS_PASSWORD, ' +
    'MVOS_OTP',
  tor:
    "with --host: connect through this SOCKS5 proxy, Tor's SocksPort (HOST:PORT), e.g. to the host's onion address " +
    '(http://ADDRESS.onion, see `mvos onion`)',
  user: 'the user to log in as with --host (default $MVOS_USER)',
};

async function ask(question: string, hidden: boolean): Promise<string> {
  if (!process.stdin.isTTY)
    throw new UserError(`--host needs ${hidden ? 'a password' : 'a one-time code'} and stdin is not a terminal`, {
      hint: 'set MVOS_PASSWORD and MVOS_OTP',
    });
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const answer = rl.question(question);
  muted = hidden;
  try {
    return await answer;
  } finally {
    rl.close();
    if (hidden) process.stderr.write('\n');
  }
}

// A client for the agent the flags name (the local socket by default).
export function client(ctx: CommandContext): AgentClient {
  const host = ctx.flags.host as string | undefined;
  const socket = ctx.flags.socket as string | undefined;
  const tor = ctx.flags.tor as string | undefined;
  if (host && socket) throw new UserError('give --socket or --host, not both');
  if (tor && !host) throw new UserError('--tor goes with --host (the agent URL to reach through it)');
  return new AgentClient({
    ...(socket ? { socket } : {}),
    ...(host ? { host } : {}),
    ...(tor ? { tor } : {}),
    login: async () => {
      const user = (ctx.flags.user as string | undefined) ?? process.env.MVOS_USER;
      if (!user) throw new UserError('--host needs --user NAME (or MVOS_USER)');
      const password = process.env.MVOS_PASSWORD ?? (await ask(`password for ${user}: `, true));
      const code = process.env.MVOS_OTP ?? (await ask('one-time code: ', false));
      return { user, password, code };
    },
  });
}

// The VM name the command was given.
export function vmName(ctx: CommandContext, what = 'a VM name'): string {
  const name = ctx.positionals[0];
  if (!name) throw new UserError(`give ${what}`, { hint: '`mvos vm list` names them' });
  return name;
}

// The API path of a VM.
export function vmPath(name: string): string {
  return `/api/vms/${encodeURIComponent(name)}`;
}

// Prints the API's answer with --json, else the lines a person reads.
export function print(ctx: CommandContext, json: unknown, human: () => string[]): number {
  if (ctx.json) ctx.out(JSON.stringify(json, null, 2));
  else for (const line of human()) ctx.out(line);
  return 0;
}
