// `mvos update bundle|verify`: signed update bundles of a built host image, and their check as a host would make it.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { UpdateView } from '../../../common/api-types.ts';
import { FailureError, UserError } from '../../../common/errors.ts';
import { ANY_HOST, BundleError, type BundleManifest, readBundle } from '../../../common/update/bundle.ts';
import { parsePublicKey, SignatureError } from '../../../common/update/minisign.ts';
import { updateLines } from '../../../common/update/view-lines.ts';
import { defaultKeyDir } from '../../firmware/keys.ts';
import { makeBundle } from '../../update/make-bundle.ts';
import { updateKeyFiles } from '../../update/update-key.ts';
import type { Command, CommandContext } from '../command.ts';
import { client, connection, connectionHelp, print } from './agent-connection.ts';

function keyDir(ctx: CommandContext): string {
  return resolve(ctx.cwd, (ctx.flags['key-dir'] as string | undefined) ?? defaultKeyDir());
}

function manifestLines(m: BundleManifest): string[] {
  return [
    `host     ${m.host} ${m.version} (replaces ${m.minVersion} or later)`,
    `build    ${m.buildId}`,
    `valid    ${m.created} to ${m.expires}`,
    ...m.payloads.map((p) => `payload  ${p.name.padEnd(8)} ${String(p.size).padStart(10)} bytes  sha256 ${p.sha256}`),
  ];
}

async function bundle(ctx: CommandContext): Promise<number> {
  const image = ctx.positionals[0];
  if (!image)
    throw new UserError('give a built host image folder', { hint: 'e.g. `mvos update bundle images/multiverse-host`' });
  const days = ctx.flags['expires-days'] as string | undefined;
  const out = ctx.flags.out as string | undefined;
  const made = await makeBundle(resolve(ctx.cwd, image), {
    keyDir: keyDir(ctx),
    expiresDays: days === undefined ? 90 : Number(days),
    minVersion: (ctx.flags['min-version'] as string | undefined) ?? '0.0.0',
    ...(out ? { out: resolve(ctx.cwd, out) } : {}),
  });
  if (ctx.json) ctx.out(JSON.stringify({ file: made.file, bytes: made.bytes, manifest: made.manifest }, null, 2));
  else ctx.out([`wrote ${made.file} (${made.bytes} bytes)`, ...manifestLines(made.manifest)].join('\n'));
  return 0;
}

// Checks a bundle with a public key: the signature, and with --host/--version whether that host would take it; every
// payload is read and hashed.
async function verify(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0];
  if (!file) throw new UserError('give a bundle file');
  const pub = (ctx.flags.key as string | undefined) ?? updateKeyFiles(keyDir(ctx)).pub;
  let publicKey: ReturnType<typeof parsePublicKey>;
  try {
    publicKey = parsePublicKey(await readFile(resolve(ctx.cwd, pub), 'utf8'));
  } catch (error) {
    if (error instanceof SignatureError) throw new UserError(`${pub}: ${error.message}`);
    throw new UserError(`cannot read the public key ${pub}: ${(error as Error).message}`);
  }
  const host = ctx.flags.host as string | undefined;
  const version = (ctx.flags.version as string | undefined) ?? '0.0.0';
  const manifest = await readBundle(
    createReadStream(resolve(ctx.cwd, file)),
    // Without --host the bundle is checked for the host it names: the signature, the versions, the expiry, the payloads.
    { publicKey, host: host ?? ANY_HOST, version, now: new Date() },
    async (_payload, content) => {
      for await (const _ of content) void _;
    },
  ).catch((error: Error) => {
    if (error instanceof BundleError) throw new FailureError(`${file} is refused: ${error.message}`);
    throw error;
  });
  if (ctx.json) ctx.out(JSON.stringify({ ok: true, manifest }, null, 2));
  else
    ctx.out(
      [
        `${file}: signature good, payloads intact`,
        ...manifestLines(manifest),
        `checked for ${host ?? manifest.host} running ${version}`,
      ].join('\n'),
    );
  return 0;
}

function rebootQuery(ctx: CommandContext): string {
  return ctx.flags['no-reboot'] ? '?reboot=no' : '?reboot=yes';
}

// Sends a bundle to a host's agent, which checks it whole before it writes the slot that did not boot.
async function push(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0];
  if (!file)
    throw new UserError('give a bundle file', { hint: '`mvos update bundle images/multiverse-host` makes one' });
  const path = resolve(ctx.cwd, file);
  await stat(path).catch(() => {
    throw new UserError(`no bundle at ${file}`);
  });
  const applied = await client(ctx).upload('POST /api/update', rebootQuery(ctx), path);
  return print(ctx, applied, () => [
    `${applied.version} written to slot ${applied.slot} (${applied.bytes} bytes), checked and read back`,
    applied.rebooting
      ? 'the host reboots into it now; it keeps it once its health gate passes (`mvos update status`)'
      : 'the next boot tries it once; reboot the host when it suits you',
  ]);
}

async function status(ctx: CommandContext): Promise<number> {
  const view = await client(ctx).answer('GET /api/update', {});
  return print(ctx, view, () => updateLines(view));
}

async function rollback(ctx: CommandContext): Promise<number> {
  const view = (await client(ctx).call('POST', `/api/update/rollback${rebootQuery(ctx)}`)).json as UpdateView;
  return print(ctx, view, () => [
    `the host boots slot ${view.slots.find((s) => s.bootSlot)?.slot} from now on${ctx.flags['no-reboot'] ? '' : ': rebooting'}`,
    ...updateLines(view),
  ]);
}

function onHost(name: string, summary: string, usage: string, run: Command['run'], reboot: boolean): Command {
  return {
    name,
    summary,
    usage: `mvos update ${usage}`,
    flags: { ...connection, ...(reboot ? { 'no-reboot': { type: 'boolean' as const } } : {}) },
    flagHelp: { ...connectionHelp, ...(reboot ? { 'no-reboot': 'do not reboot now (the next boot does it)' } : {}) },
    json: true,
    run,
  };
}

// The update verb.
export const updateCommand: Command = {
  name: 'update',
  summary: 'signed A/B update bundles of a host image',
  usage: 'mvos update <bundle|verify|push|status|rollback>',
  description:
    'A bundle is one tar file: manifest.json (host, version, build id, the oldest version it replaces, an expiry, each ' +
    "payload's sha256 and size), manifest.json.minisig (Ed25519, minisign's format: `minisign -V -p update.pub -m " +
    'manifest.json` checks it), then the payloads. The update key is made by `mvos keys init`.',
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'bundle',
      summary: 'write a signed bundle of a built host image',
      usage: 'mvos update bundle IMAGE_DIR [--out FILE] [--expires-days N] [--min-version V] [--key-dir DIR]',
      flags: {
        out: { type: 'string' },
        'expires-days': { type: 'string' },
        'min-version': { type: 'string' },
        'key-dir': { type: 'string' },
      },
      flagHelp: {
        out: 'where to write it (default IMAGE_DIR/<host>-<version>.mvu)',
        'expires-days': "days after the build's time until hosts refuse it (default 90)",
        'min-version': 'the oldest version it may replace (default 0.0.0: any)',
        'key-dir': 'the key folder with update.key (default $XDG_CONFIG_HOME/mvos/keys)',
      },
      json: true,
      run: bundle,
    },
    {
      name: 'verify',
      summary: 'check a bundle: its signature, its payloads, and with --host/--version whether that host takes it',
      usage: 'mvos update verify BUNDLE [--key PUB] [--host NAME --version V]',
      flags: {
        key: { type: 'string' },
        host: { type: 'string' },
        version: { type: 'string' },
        'key-dir': { type: 'string' },
      },
      flagHelp: {
        key: "the public key file (default the key folder's update.pub)",
        host: 'the host name to check it for (default: the one it names)',
        version: 'the version the host runs (default 0.0.0)',
        'key-dir': 'the key folder (default $XDG_CONFIG_HOME/mvos/keys)',
      },
      json: true,
      run: verify,
    },
    onHost(
      'push',
      'send a bundle to a host: checked whole, written to the slot that did not boot, tried once (the host reboots)',
      'push BUNDLE [--host URL --user NAME] [--no-reboot]',
      push,
      true,
    ),
    onHost(
      'status',
      "a host's slots, versions, verdicts and health gate",
      'status [--host URL --user NAME]',
      status,
      false,
    ),
    onHost(
      'rollback',
      'boot the other slot from now on (a version on trial is given up)',
      'rollback [--host URL --user NAME] [--no-reboot]',
      rollback,
      true,
    ),
  ],
};
