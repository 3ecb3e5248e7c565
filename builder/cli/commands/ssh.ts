// `mvos ssh cert USER@HOST`: logs in to a host's SSH jail with your key and a one-time code (OpenSSH asks for it) and
// has the host vault's CA certify that same key for a short while; the certificate lands beside the key as
// KEY-cert.pub, where ssh finds it on its own.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../../../common/atomic-write.ts';
import { MvosError, UserError } from '../../../common/errors.ts';
import type { Command, CommandContext } from '../command.ts';

const CERT_USAGE =
  'mvos ssh cert USER@HOST [--key FILE] [--port N] [--lifetime 1h] [--from ADDRESS] [--option SSH_OPTION…] [--json]';
// A certificate line is a few hundred bytes: more than this is not one.
const MAX_ANSWER_BYTES = 16 * 1024;

// The jail's words for the request: a lifetime (90, 10m, 2h) and one address.
function jailCommand(ctx: CommandContext): string {
  const lifetime = (ctx.flags.lifetime as string | undefined) ?? '1h';
  if (!/^[0-9]{1,5}[smh]?$/.test(lifetime))
    throw new UserError(`--lifetime is seconds, minutes or hours: 90, 10m, 2h (got "${lifetime}")`);
  const from = ctx.flags.from as string | undefined;
  if (from !== undefined && !/^[0-9a-fA-F.:]{2,45}$/.test(from))
    throw new UserError(`--from is one IPv4 or IPv6 address (got "${from}")`);
  return ['ssh-cert', lifetime, ...(from ? [`from=${from}`] : [])].join(' ');
}

// Runs ssh with the terminal for its prompts and the answer captured.
function runSsh(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((done, fail) => {
    const child = spawn('ssh', args, { stdio: ['inherit', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.length > MAX_ANSWER_BYTES) child.kill();
    });
    child.on('error', (error) =>
      fail(new MvosError(`ssh did not run: ${error.message}`, { hint: 'install openssh-client' })),
    );
    child.on('close', (code) => done({ code: code ?? 1, stdout }));
  });
}

async function cert(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length !== 1) throw new UserError('give one USER@HOST', { hint: `usage: ${CERT_USAGE}` });
  const target = ctx.positionals[0]!;
  if (!/^[a-z_][a-z0-9_-]{0,31}@[A-Za-z0-9.:[\]-]{1,255}$/.test(target))
    throw new UserError(`"${target}" is not USER@HOST`, { hint: `usage: ${CERT_USAGE}` });
  const key = resolve(ctx.cwd, (ctx.flags.key as string | undefined) ?? `${homedir()}/.ssh/id_ed25519`);
  if (!existsSync(key)) throw new UserError(`${key}: no such key`, { hint: 'give the private key with --key' });
  const port = (ctx.flags.port as string | undefined) ?? '22';
  if (!/^[0-9]{1,5}$/.test(port)) throw new UserError(`--port is a number (got "${port}")`);
  const command = jailCommand(ctx);
  const options = ((ctx.flags.option as string[] | undefined) ?? []).flatMap((o) => ['-o', o]);
  const { code, stdout } = await runSsh([
    ...options,
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    '-p',
    port,
    target,
    command,
  ]);
  if (code !== 0) throw new MvosError(`the host issued no certificate (ssh exited ${code}; its message is above)`);
  const line = stdout.trim();
  if (!/^ssh-ed25519-cert-v01@openssh\.com [A-Za-z0-9+/=]+ \S+$/.test(line))
    throw new MvosError('the host answered something that is not a certificate');
  const file = `${key}-cert.pub`;
  await writeFileAtomic(file, `${line}\n`, { mode: 0o644 });
  if (ctx.json) ctx.out(JSON.stringify({ certificate: file, keyId: line.split(' ')[2] }, null, 2));
  else ctx.out(`certificate ${line.split(' ')[2]} written to ${file} (see it with ssh-keygen -L -f ${file})`);
  return 0;
}

// The ssh verb.
export const sshCommand: Command = {
  name: 'ssh',
  summary: "short-lived SSH certificates from a host vault's CA",
  usage: 'mvos ssh cert USER@HOST [--key FILE] [--lifetime 1h] [--from ADDRESS]',
  description:
    "Servers that trust the vault's CA (sshd TrustedUserCAKeys, its key from GET /api/vault or `ssh HOST vault`) take the certificate until it ends: no keys to copy around.",
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'cert',
      summary: "log in with key + code and have the vault's CA certify that key (KEY-cert.pub)",
      usage: CERT_USAGE,
      flags: {
        key: { type: 'string' },
        port: { type: 'string' },
        lifetime: { type: 'string' },
        from: { type: 'string' },
        option: { type: 'string', multiple: true },
      },
      flagHelp: {
        key: 'the private key to log in with and certify (default ~/.ssh/id_ed25519)',
        port: "the host's SSH port (default 22)",
        lifetime: 'how long the certificate lives: 60 s to 12 h, as 90, 10m, 2h (default 1h)',
        from: 'the one address the certificate is good from',
        option: 'an option for ssh, as its -o takes it (repeatable): ProxyJump=…, UserKnownHostsFile=…',
      },
      json: true,
      run: cert,
    },
  ],
};
