// `mvos keys init|export`: the project's Secure Boot keys, kept outside the repository.

import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../../../common/errors.ts';
import { defaultKeyDir, exportKeys, initKeys, keyFiles, loadKeySet, refuseRepo } from '../../firmware/keys.ts';
import { hasUpdateKey, initUpdateKey } from '../../update/update-key.ts';
import type { Command, CommandContext } from '../command.ts';

function dir(ctx: CommandContext): string {
  return resolve(ctx.cwd, (ctx.flags.dir as string | undefined) ?? defaultKeyDir());
}

// Makes what the folder lacks: the Secure Boot set (PK, KEK, db) and the update key; refused when it has both.
async function init(ctx: CommandContext): Promise<number> {
  const folder = dir(ctx);
  const secureBoot = !existsSync(keyFiles(folder, 'PK').key);
  const update = !hasUpdateKey(folder);
  if (!secureBoot && !update)
    throw new UserError(`${folder} already holds the Secure Boot keys and the update key`, {
      hint: 'remove them or choose another --dir',
    });
  const made: string[] = [];
  try {
    if (secureBoot) await initKeys(folder);
    if (update) {
      await refuseRepo(folder);
      made.push(...(await initUpdateKey(folder)));
    }
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const files = (await readdir(folder)).sort().map((name) => join(folder, name));
  const what = [
    ...(secureBoot ? ['PK, KEK and db'] : []),
    ...(update ? ['the update key (update.key, update.pub)'] : []),
  ];
  if (ctx.json) ctx.out(JSON.stringify({ dir: folder, files }, null, 2));
  else
    ctx.out(
      `created ${what.join(' and ')} in ${folder} (private keys 0600):\n${files.map((f) => `  ${f}`).join('\n')}`,
    );
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
  summary: 'create or export the Secure Boot keys (PK, KEK, db) and the update key',
  usage: 'mvos keys <init|export> [--dir DIR]',
  description:
    'Keys live in $XDG_CONFIG_HOME/mvos/keys (else ~/.config/mvos/keys), never in the repository or an image. Bring' +
    ' your own by putting PK/KEK/db .key and .crt (PEM) in a folder and passing --dir.',
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'init',
      summary: 'create PK, KEK and db (RSA 3072, self-signed) with .esl/.auth exports, and the update key (Ed25519)',
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
