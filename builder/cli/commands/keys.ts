// `mvos keys init|export`: the project's Secure Boot keys, kept outside the repository.
import { resolve } from 'node:path';
import { UserError } from '../../../common/errors.ts';
import { defaultKeyDir, exportKeys, initKeys, loadKeySet } from '../../firmware/keys.ts';
import type { Command, CommandContext } from '../command.ts';

function dir(ctx: CommandContext): string {
  return resolve(ctx.cwd, (ctx.flags.dir as string | undefined) ?? defaultKeyDir());
}

async function init(ctx: CommandContext): Promise<number> {
  let files: string[];
  try {
    files = await initKeys(dir(ctx));
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  if (ctx.json) ctx.out(JSON.stringify({ dir: dir(ctx), files }, null, 2));
  else ctx.out(`created PK, KEK and db in ${dir(ctx)} (mode 0600):\n${files.map((f) => `  ${f}`).join('\n')}`);
  return 0;
}

async function exportAll(ctx: CommandContext): Promise<number> {
  await loadKeySet(dir(ctx));
  await exportKeys(dir(ctx));
  ctx.out(`wrote PK/KEK/db .cer, .esl and .auth in ${dir(ctx)}`);
  return 0;
}

// The keys verb.
export const keysCommand: Command = {
  name: 'keys',
  summary: 'create or export the Secure Boot keys (PK, KEK, db)',
  usage: 'mvos keys <init|export> [--dir DIR]',
  description:
    'Keys live in $XDG_CONFIG_HOME/mvos/keys (else ~/.config/mvos/keys), never in the repository or an image. Bring' +
    ' your own by putting PK/KEK/db .key and .crt (PEM) in a folder and passing --dir.',
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'init',
      summary: 'create PK, KEK and db (RSA 3072, self-signed) with .esl/.auth exports',
      usage: 'mvos keys init [--dir DIR] [--json]',
      flags: { dir: { type: 'string' } },
      flagHelp: { dir: 'where to put them (default $XDG_CONFIG_HOME/mvos/keys)' },
      json: true,
      run: init,
    },
    {
      name: 'export',
      summary: 'write .cer, .esl and .auth for an existing (or your own) key set',
      usage: 'mvos keys export [--dir DIR]',
      flags: { dir: { type: 'string' } },
      flagHelp: { dir: 'the key folder (default $XDG_CONFIG_HOME/mvos/keys)' },
      run: exportAll,
    },
  ],
};
