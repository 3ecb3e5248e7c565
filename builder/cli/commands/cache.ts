// `mvos cache verify|gc|path`: look after the content-addressed cache.
import { join } from 'node:path';
import { FailureError, UserError } from '../../../common/errors.ts';
import { ContentCache } from '../../inputs/cache.ts';
import { allPins } from '../../inputs/lock.ts';
import { readLockfile } from '../../inputs/lockfile.ts';
import type { Command, CommandContext } from '../command.ts';
import { findFilesEndingWith } from './validate.ts';

async function verify(ctx: CommandContext): Promise<number> {
  const cache = ContentCache.fromEnvironment();
  const { checked, corrupt } = await cache.verify();
  if (ctx.json) ctx.out(JSON.stringify({ root: cache.root, checked, corrupt }, null, 2));
  else ctx.out(`checked ${checked} blob${checked === 1 ? '' : 's'} in ${cache.root}`);
  if (corrupt.length > 0) {
    throw new FailureError(
      `${corrupt.length} damaged cache entr${corrupt.length === 1 ? 'y' : 'ies'}: ${corrupt.join(', ')}`,
      {
        hint: 'run `mvos cache gc --all` or delete those files; the next build fetches them again',
      },
    );
  }
  return 0;
}

function pinnedHashes(cwd: string): Set<string> {
  const keep = new Set<string>();
  const lockfiles = findFilesEndingWith(join(cwd, 'recipes'), '.lock.json');
  for (const file of lockfiles) {
    const lock = readLockfile(file);
    if (lock) for (const pin of allPins(lock)) keep.add(pin.sha256);
  }
  return keep;
}

// A size like 10G, 512M or 2048 (bytes); K, M, G and T count powers of 1024.
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new UserError(`--keep-recent takes a size like 10G or 512M (got "${text}")`);
  const power = ' KMGT'.indexOf(match[2]!.toUpperCase() || ' ');
  return Math.floor(Number(match[1]) * 1024 ** power);
}

async function gc(ctx: CommandContext): Promise<number> {
  const cache = ContentCache.fromEnvironment();
  const keep = ctx.flags.all ? new Set<string>() : pinnedHashes(ctx.cwd);
  const recent = typeof ctx.flags['keep-recent'] === 'string' ? parseSize(ctx.flags['keep-recent']) : 0;
  if (recent > 0 && ctx.flags.all) throw new UserError('give --all or --keep-recent, not both');
  const { removed, freedBytes, recentBytes } = await cache.gc(keep, recent);
  const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (ctx.json)
    ctx.out(JSON.stringify({ root: cache.root, kept: keep.size, recentBytes, removed, freedBytes }, null, 2));
  else
    ctx.out(
      `removed ${removed} entr${removed === 1 ? 'y' : 'ies'} (${mib(freedBytes)}); kept ${keep.size} pinned by the lockfiles in recipes/${recent > 0 ? ` and ${mib(recentBytes)} of the most recently used outputs` : ''}`,
    );
  return 0;
}

async function path(ctx: CommandContext): Promise<number> {
  ctx.out(ContentCache.fromEnvironment().root);
  return 0;
}

// The cache verb and its subcommands.
export const cacheCommand: Command = {
  name: 'cache',
  summary: 'verify or clean the content-addressed cache',
  usage: 'mvos cache <verify|gc|path>',
  description:
    'The cache lives in $MVOS_CACHE, else $XDG_CACHE_HOME/mvos, else ~/.cache/mvos. Every entry is named by its ' +
    'sha256 and checked on every read.',
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'verify',
      summary: 're-hash every entry and name the damaged ones (exit 1 if any)',
      usage: 'mvos cache verify [--json]',
      flags: {},
      flagHelp: {},
      json: true,
      run: verify,
    },
    {
      name: 'gc',
      summary: 'remove entries no lockfile in recipes/ pins, and stale temporary files',
      usage: 'mvos cache gc [--all | --keep-recent SIZE] [--json]',
      flags: { all: { type: 'boolean' }, 'keep-recent': { type: 'string' } },
      flagHelp: {
        all: 'remove every entry (the next build fetches again)',
        'keep-recent': 'keep the most recently used build outputs up to SIZE (10G, 512M) besides the pinned inputs',
      },
      json: true,
      run: gc,
    },
    { name: 'path', summary: 'print where the cache is', usage: 'mvos cache path', flags: {}, flagHelp: {}, run: path },
  ],
};
