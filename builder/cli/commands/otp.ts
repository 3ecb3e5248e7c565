// `mvos otp enroll USER`: a new one-time-code secret for an agent user, shown as an otpauth:// URI and a terminal QR
// code.
import { resolve } from 'node:path';
import QRCode from 'qrcode';
import { UserError } from '../../../common/errors.ts';
import { defaultKeyDir } from '../../firmware/keys.ts';
import { enrollOtp, type OtpType } from '../../secrets/store.ts';
import type { Command, CommandContext } from '../command.ts';

// The key folder a user command works in: --key-dir, else the default one the build reads.
export function keyDirOf(ctx: CommandContext): string {
  return resolve(ctx.cwd, (ctx.flags['key-dir'] as string | undefined) ?? defaultKeyDir());
}

// The one user name a user command takes.
export function userOf(ctx: CommandContext, usage: string): string {
  if (ctx.positionals.length !== 1)
    throw new UserError(`give one user name (got ${ctx.positionals.length})`, { hint: `usage: ${usage}` });
  return ctx.positionals[0]!;
}

const ENROLL_USAGE = 'mvos otp enroll USER [--type totp|hotp] [--key-dir DIR] [--force] [--json]';

async function enroll(ctx: CommandContext): Promise<number> {
  const user = userOf(ctx, ENROLL_USAGE);
  const type = (ctx.flags.type as string | undefined) ?? 'totp';
  if (type !== 'totp' && type !== 'hotp') throw new UserError(`--type must be totp or hotp (got "${type}")`);
  const keyDir = keyDirOf(ctx);
  const enrollment = await enrollOtp(keyDir, user, type as OtpType, { replace: Boolean(ctx.flags.force) });
  if (ctx.json) {
    ctx.out(JSON.stringify({ user, type, uri: enrollment.uri, keyDir, keyFile: enrollment.keyFile }, null, 2));
    return 0;
  }
  ctx.out(await QRCode.toString(enrollment.uri, { type: 'utf8', errorCorrectionLevel: 'M' }));
  ctx.out(enrollment.uri);
  ctx.out('');
  ctx.out(
    `enrolled ${user} for ${type.toUpperCase()}: scan the code (or type the secret ${enrollment.secret}) into an authenticator app.`,
  );
  ctx.out(
    `the secret is stored sealed in ${keyDir} (0600); the next \`mvos build\` puts it into host.json and the key into /etc/mvos/secret.key (0400).`,
  );
  return 0;
}

// The otp verb.
export const otpCommand: Command = {
  name: 'otp',
  summary: 'enroll an agent user for one-time codes (SSH login)',
  usage: 'mvos otp enroll USER [--type totp|hotp] [--key-dir DIR]',
  description:
    "Secrets are sealed with AES-256-GCM under the key folder's agent/secret.key and never written in clear; the folder defaults to $XDG_CONFIG_HOME/mvos/keys and must be outside any repository.",
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'enroll',
      summary: 'create a secret, print its otpauth:// URI and QR code, store it sealed',
      usage: ENROLL_USAGE,
      flags: { type: { type: 'string' }, 'key-dir': { type: 'string' }, force: { type: 'boolean' } },
      flagHelp: {
        type: 'totp (time-based, default) or hotp (counter-based)',
        'key-dir': 'the key folder (default $XDG_CONFIG_HOME/mvos/keys)',
        force: 'replace an existing secret',
      },
      json: true,
      run: enroll,
    },
  ],
};
