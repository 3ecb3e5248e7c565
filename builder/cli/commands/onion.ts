// `mvos onion`: the host's onion call-home — its address, and the clients enrolled to reach it. A client's key is made
// here, on the owner's machine: the agent gets only the public half, the private half goes to this machine's Tor.
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { OnionView } from '../../../common/api-types.ts';
import { UserError } from '../../../common/errors.ts';
import { authPrivateLine, onionAuthKeypair } from '../../../common/onion/client-auth.ts';
import type { Command, CommandContext } from '../command.ts';
import { client, connection, connectionHelp, print } from './agent-connection.ts';

// Where this machine's Tor finds its client keys (its torrc's ClientOnionAuthDir) unless --auth-dir says.
export function defaultAuthDir(env = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mvos', 'onion-auth');
}

// How the owner reaches the host through Tor: the torrc lines and the two commands, for a SOCKS port.
export function reachLines(
  view: Pick<OnionView, 'address' | 'ports'>,
  authDir: string,
  socks = '127.0.0.1:9050',
): string[] {
  const [socksHost, socksPort] = socks.split(':');
  return [
    "this machine's torrc:",
    `  ClientOnionAuthDir ${authDir}`,
    `  SocksPort ${socks} ExtendedErrors`,
    'then:',
    `  mvos vm list --host http://${view.address} --tor ${socks} --user USER`,
    ...(view.ports.ssh
      ? [
          `  ssh -o ProxyCommand='socat - SOCKS4A:${socksHost}:%h:%p,socksport=${socksPort}' USER@${view.address} status`,
        ]
      : []),
  ];
}

function viewLines(view: OnionView): string[] {
  return [
    `address  ${view.address}`,
    `gateway  ${view.gateway} (${view.serving ? 'serving' : view.clients.length === 0 ? 'not published: no client enrolled' : 'not serving yet'})`,
    `ports    ${view.ports.ssh ? `${view.ports.ssh} ssh, ` : ''}${view.ports.api} api`,
    `clients  ${view.clients.length === 0 ? '(none)' : view.clients.map((c) => `${c.name} (${c.added.slice(0, 10)} by ${c.by || 'root'})`).join(', ')}`,
  ];
}

async function status(ctx: CommandContext): Promise<number> {
  const view = await client(ctx).answer('GET /api/onion', {});
  return print(ctx, view, () => viewLines(view));
}

function clientName(ctx: CommandContext): string {
  const name = ctx.positionals[0];
  if (!name || !/^[a-z0-9][a-z0-9-]{0,31}$/.test(name))
    throw new UserError('give a client name: 1-32 characters, a-z, 0-9 and -', {
      hint: 'e.g. `mvos onion client add laptop`',
    });
  return name;
}

// Enrols this machine: a fresh x25519 key, the public half to the agent, the private half into ClientOnionAuthDir.
async function add(ctx: CommandContext): Promise<number> {
  const name = clientName(ctx);
  const keys = onionAuthKeypair();
  const view = await client(ctx).answer('POST /api/onion/clients', {}, { name, publicKey: keys.publicKey });
  const dir = (ctx.flags['auth-dir'] as string | undefined) ?? defaultAuthDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const bare = view.address.replace(/\.onion$/, '');
  const file = join(dir, `${bare}.auth_private`);
  const line = authPrivateLine(view.address, keys.privateKey);
  await writeFile(file, `${line}\n`, { mode: 0o600 });
  return print(ctx, { ...view, client: name, authPrivateFile: file }, () => [
    `enrolled ${name} for ${view.address}; its private key is in ${file} (0600)`,
    ...reachLines(view, dir, ctx.flags.tor as string | undefined),
  ]);
}

async function remove(ctx: CommandContext): Promise<number> {
  const name = clientName(ctx);
  const view = await client(ctx).answer('DELETE /api/onion/clients/{name}', { name });
  return print(ctx, view, () => [`revoked ${name}: ${view.gateway}'s Tor restarts without it`, ...viewLines(view)]);
}

function sub(name: string, summary: string, usage: string, run: Command['run'], extra: Partial<Command> = {}): Command {
  return {
    name,
    summary,
    usage: `mvos onion ${usage}`,
    flags: connection,
    flagHelp: connectionHelp,
    json: true,
    run,
    ...extra,
  };
}

// The onion verb.
export const onionCommand: Command = {
  name: 'onion',
  summary: "a host's onion call-home: its address and the clients enrolled to reach it",
  usage: 'mvos onion <status|client>',
  description:
    'A host with agent.onion publishes its SSH jail and API as a v3 onion service with client authorization: only an ' +
    'enrolled client can even find it. Asks the agent (its socket, or --host with a login, --tor for an onion address).',
  flags: {},
  flagHelp: {},
  subcommands: [
    sub('status', 'the address, the gateway that publishes it, the ports and the clients', 'status [--json]', status),
    {
      name: 'client',
      summary: 'enrol, list and revoke the clients that may reach the host',
      usage: 'mvos onion client <add|remove|list>',
      flags: {},
      flagHelp: {},
      subcommands: [
        sub(
          'add',
          "enrol this machine: a new key, its private half into this machine's ClientOnionAuthDir",
          'client add NAME [--auth-dir DIR]',
          add,
          {
            flags: { ...connection, 'auth-dir': { type: 'string' } },
            flagHelp: {
              ...connectionHelp,
              'auth-dir': `where this machine's Tor reads client keys (default ${defaultAuthDir()})`,
            },
          },
        ),
        sub('remove', "revoke a client (the gateway's Tor restarts without it)", 'client remove NAME', remove),
        sub('list', 'the enrolled clients', 'client list [--json]', status),
      ],
    },
  ],
};
