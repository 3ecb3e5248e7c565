// `mvos keys init|export|split|verify|recover`: the project's Secure Boot and update keys, kept outside the repository,
// and their custody: the folder sealed, its key split among custodians as share cards.

import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type GivenShare,
  parseSealed,
  recoverKeys,
  type SealedKeys,
  shareNumbers,
  splitKeys,
  unpackFolder,
} from '../../../common/custody/custody.ts';
import { openShare, SHARE_PREFIX } from '../../../common/custody/share-card.ts';
import { UserError } from '../../../common/errors.ts';
import { dealerFingerprint, parseCustodian, SEALED_FILE, writeCards } from '../../custody/cards.ts';
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

// A split's numbers from the flags.
function count(ctx: CommandContext, flag: string): number {
  const value = ctx.flags[flag];
  if (typeof value !== 'string' || !/^\d+$/.test(value))
    throw new UserError(`--${flag} N is required (a whole number)`);
  return Number(value);
}

async function splitFolder(ctx: CommandContext): Promise<number> {
  const folder = dir(ctx);
  const out = resolve(ctx.cwd, (ctx.flags.out as string | undefined) ?? 'key-custody');
  const split = await splitKeys(folder, {
    threshold: count(ctx, 'threshold'),
    shares: count(ctx, 'shares'),
    label: (ctx.flags.label as string | undefined) ?? '',
  });
  const to = ((ctx.flags.to as string[] | undefined) ?? []).map(parseCustodian);
  const files = await writeCards(out, split, to);
  const { sealed } = split;
  if (ctx.json) ctx.out(JSON.stringify({ setId: sealed.setId, dealer: sealed.dealer, files }, null, 2));
  else
    ctx.out(
      [
        `sealed ${folder} and split its key: any ${sealed.threshold} of ${sealed.shares} shares recover it`,
        `  set ${sealed.setId}, dealer ${dealerFingerprint(sealed.dealer)} (on every card: compare them)`,
        `  ${join(out, SEALED_FILE)}: keep it anywhere, it is useless without the shares`,
        ...to.map((c, i) => `  ${join(out, `share-${i + 1}-${c.name}.age`)}: share ${i + 1}, encrypted to ${c.name}`),
        ...(to.length < sealed.shares
          ? [`  ${out}/share-K.svg (print), .png (the QR code), .txt: give each custodian one, then delete them here`]
          : []),
      ].join('\n'),
    );
  return 0;
}

// The share in a file: a card's text, its SVG page, or any text holding `MVOS-SHARE-1:…`.
async function shareFromFile(path: string): Promise<GivenShare> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new UserError(`no such file: ${path}`);
  if (info.size > 1 << 20) throw new UserError(`${path} is larger than a share card (1 MiB)`);
  const text = (await readFile(path, 'utf8')).replace(/<[^>]+>/g, '\n');
  const match = new RegExp(`${SHARE_PREFIX}[A-Za-z2-7\\s-]+`).exec(text);
  if (!match) throw new UserError(`${path} holds no share (no ${SHARE_PREFIX})`);
  return { text: match[0], where: path };
}

async function readSealed(path: string): Promise<SealedKeys> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new UserError(`no such file: ${path}`);
  if (info.size > 4 << 20) throw new UserError(`${path} is larger than a sealed key folder`);
  return parseSealed(await readFile(path, 'utf8'), path);
}

// Shares typed at the terminal, one per line (an empty line ends), until `needed` are in.
async function typedShares(ctx: CommandContext, needed: number): Promise<GivenShare[]> {
  if (!process.stdin.isTTY) {
    const text = await new Promise<string>((done) => {
      let all = '';
      process.stdin.setEncoding('utf8').on('data', (c) => {
        all += c;
        if (all.length > 1 << 20) process.stdin.destroy();
      });
      process.stdin.on('end', () => done(all)).on('close', () => done(all));
    });
    return text
      .split(/\n\s*\n|(?=MVOS-SHARE-1:)/i)
      .map((t) => t.trim())
      .filter(Boolean)
      .map((t, i) => ({ text: t, where: `share ${i + 1} on stdin` }));
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const shares: GivenShare[] = [];
  try {
    for (let i = 1; i <= needed; i++) {
      const line = await new Promise<string>((done) =>
        rl.question(`share ${i} of ${needed} (empty line: stop): `, done),
      );
      if (!line.trim()) break;
      const share = { text: line, where: `typed share ${i}` };
      const card = openShare(share.text, share.where);
      ctx.err(`  share ${card.index} of ${card.shares}: signature good`);
      shares.push(share);
    }
  } finally {
    rl.close();
  }
  return shares;
}

async function verifyCards(ctx: CommandContext): Promise<number> {
  const paths = ctx.positionals;
  if (paths.length === 0) throw new UserError('name the cards (share-K.txt or .svg) and, if you like, the sealed file');
  const sealedPath = paths.find((p) => p.endsWith('.json'));
  const sealed = sealedPath ? await readSealed(resolve(ctx.cwd, sealedPath)) : undefined;
  const lines: string[] = [];
  for (const path of paths.filter((p) => p !== sealedPath)) {
    const given = await shareFromFile(resolve(ctx.cwd, path));
    const card = openShare(given.text, given.where);
    const set = card.setId.toString('hex');
    if (sealed && set !== sealed.setId)
      throw new UserError(`${path}: share ${card.index} is of set ${set}, not the sealed file's ${sealed.setId}`);
    lines.push(
      `${path}: share ${card.index} of ${card.shares} (any ${card.threshold}), set ${set.slice(0, 16)}, dealer ${dealerFingerprint(card.dealer.toString('hex'))}${card.label ? `, "${card.label}"` : ''}: signature good`,
    );
  }
  if (sealed)
    lines.push(`${sealedPath}: set ${sealed.setId.slice(0, 16)}, any ${sealed.threshold} of ${sealed.shares}`);
  ctx.out(lines.join('\n'));
  return 0;
}

async function recoverFolder(ctx: CommandContext): Promise<number> {
  const sealedPath = ctx.flags.sealed as string | undefined;
  if (!sealedPath) throw new UserError(`--sealed FILE is required (${SEALED_FILE} from the split)`);
  const sealed = await readSealed(resolve(ctx.cwd, sealedPath));
  const out = ctx.flags.out as string | undefined;
  const drill = Boolean(ctx.flags.drill);
  if (!out && !drill) throw new UserError('--out DIR is required: a new folder for the recovered keys (or --drill)');
  if (out && drill) throw new UserError('--drill writes nothing: leave out --out');
  const given =
    ctx.positionals.length > 0
      ? await Promise.all(ctx.positionals.map((p) => shareFromFile(resolve(ctx.cwd, p))))
      : await typedShares(ctx, sealed.threshold);
  const packed = await recoverKeys(sealed, given);
  if (drill) {
    const files = (JSON.parse(packed.toString('utf8')) as Array<[string]>).map(([name]) => name);
    packed.fill(0);
    const used = shareNumbers(given);
    ctx.out(
      `drill passed: shares ${used.join(', ')} of set ${sealed.setId.slice(0, 16)} (any ${sealed.threshold} of ${sealed.shares}) recover the key folder (${files.join(', ')}); nothing was written`,
    );
    return 0;
  }
  const into = resolve(ctx.cwd, out as string);
  const names = await unpackFolder(packed, into);
  ctx.out(`recovered ${names.length} files into ${into}: ${names.join(', ')}`);
  return 0;
}

// The keys verb.
export const keysCommand: Command = {
  name: 'keys',
  summary: 'create, export, split among custodians and recover the Secure Boot keys and the update key',
  usage: 'mvos keys <init|export|split|verify|recover> [--dir DIR]',
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
    {
      name: 'split',
      summary:
        "seal the key folder and split its key into share cards: any T of N recover it (Shamir's secret sharing)",
      usage:
        'mvos keys split --threshold T --shares N [--label TEXT] [--to NAME=KEY ...] [--out DIR] [--dir DIR] [--json]',
      flags: {
        dir: { type: 'string' },
        to: { type: 'string', multiple: true },
        threshold: { type: 'string' },
        shares: { type: 'string' },
        label: { type: 'string' },
        out: { type: 'string' },
      },
      flagHelp: {
        dir: 'the key folder (default $XDG_CONFIG_HOME/mvos/keys)',
        threshold: 'how many shares recover the keys (2 to N)',
        shares: 'how many custodians get a share (2 to 32)',
        label: 'what the cards say the keys are for (64 bytes at most)',
        out: 'a new folder for the sealed file and the cards (default ./key-custody)',
        to: 'share K encrypted with age to the K-th custodian named (an age1… or SSH public key), no card in the clear',
      },
      json: true,
      run: splitFolder,
    },
    {
      name: 'verify',
      summary: "check share cards alone (the dealer's signature) and, given the sealed file, that they belong to it",
      usage: 'mvos keys verify CARD... [keys.sealed.json]',
      flags: {},
      flagHelp: {},
      run: verifyCards,
    },
    {
      name: 'recover',
      summary: 'recover the key folder from its sealed file and any T shares (card files, or typed one per line)',
      usage: 'mvos keys recover --sealed keys.sealed.json --out DIR|--drill [CARD...]',
      flags: { sealed: { type: 'string' }, out: { type: 'string' }, drill: { type: 'boolean' } },
      flagHelp: {
        sealed: 'the sealed file the split wrote',
        out: 'a new folder for the keys',
        drill: "a custodians' drill: check that the cards recover the folder, write nothing",
      },
      run: recoverFolder,
    },
  ],
};
