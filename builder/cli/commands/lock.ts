// `mvos lock [recipe]`: pins every input of a recipe and its VM recipes in recipes/<name>.lock.json.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { UserError } from '../../../common/errors.ts';
import { createAptContext } from '../../inputs/apt.ts';
import { ContentCache } from '../../inputs/cache.ts';
import { sourcesForSuite } from '../../inputs/debian-sources.ts';
import { type Drift, driftFromBase, inheritedLock, pinsToKeep } from '../../inputs/inherit.ts';
import { assertOnlyRequestedMoves, diffLocks, resolveLock } from '../../inputs/lock.ts';
import { type Lockfile, lockfilePath, readLockfile, serializeLockfile, writeLockfile } from '../../inputs/lockfile.ts';
import { requireRecipe } from '../../recipe/load.ts';
import type { Command, CommandContext } from '../command.ts';

function describeDrift(drift: Drift[]): string {
  return drift.map((d) => `${d.name} ${d.version} (base: ${d.baseVersion})`).join(', ');
}

async function run(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0] ?? 'recipes/host.yaml';
  if (ctx.positionals.length > 1)
    throw new UserError('lock takes one recipe', { hint: 'run `mvos lock` once per recipe' });
  const recipe = requireRecipe(file, ctx.cwd);
  const path = lockfilePath(recipe.file);
  const shown = relative(ctx.cwd, path);
  const found = readLockfile(path, { olderAsAbsent: true });
  // A lock of another release is rewritten whole: none of its pins can be kept.
  const previous = found?.debian.suite === recipe.debian.suite ? found : undefined;
  const update = new Set((ctx.flags.update as string[] | undefined) ?? []);
  const inherited = inheritedLock(recipe.bases, recipe.debian.suite);
  const baseShown = inherited && relative(ctx.cwd, inherited.file);
  for (const name of update) {
    if (!previous?.packages[name] && !inherited?.lock.packages[name])
      throw new UserError(`--update ${name}: ${shown} pins no package of that name`, {
        hint: previous
          ? 'see the "packages" keys of the lockfile'
          : `there is no lockfile yet: run \`mvos lock ${file}\``,
      });
  }
  const cache = ContentCache.fromEnvironment();
  await mkdir(join(cache.root, 'apt-work'), { recursive: true });
  const workDir = await mkdtemp(join(cache.root, 'apt-work', 'lock-'));
  let lock: Lockfile;
  try {
    const sources = await sourcesForSuite(workDir, recipe.debian.suite, ctx.flags['apt-sources'] as string | undefined);
    const apt = await createAptContext({
      workDir,
      aptSources: sources.file,
      keep: pinsToKeep(previous, inherited?.lock, update),
      offline: ctx.flags.offline === true,
    });
    // A new derived lock takes its base's SOURCE_DATE_EPOCH too, so the stages it shares with the base keep their keys.
    lock = await resolveLock(recipe, apt, previous ?? inherited?.lock, new Date(), sources.locked, update);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const changes = previous ? diffLocks(previous, lock) : undefined;
  const followsBase = new Set(
    changes?.moved.filter((m) => inherited?.lock.packages[m.name]?.version === m.to).map((m) => m.name),
  );
  if (changes) assertOnlyRequestedMoves(changes, new Set([...update, ...followsBase]));
  const text = serializeLockfile(lock);
  const same = previous !== undefined && (await readFile(path, 'utf8')) === text;
  if (ctx.flags.check) {
    const drift = previous && inherited ? driftFromBase(previous, inherited.lock) : [];
    if (drift.length > 0) {
      throw new UserError(`${shown} has drifted from its base ${baseShown}: ${describeDrift(drift)}`, {
        hint: `run \`mvos lock ${file}\`: a derived lock takes its base's pins for what it inherits`,
      });
    }
    if (same) {
      ctx.out(`${shown} is up to date (${Object.keys(lock.packages).length} packages)`);
      return 0;
    }
    throw new UserError(`${shown} is out of date with ${file}`, {
      hint: `run \`mvos lock ${file}\` and commit the lockfile`,
    });
  }
  if (!same) await writeLockfile(path, lock);
  if (ctx.json) {
    ctx.out(
      JSON.stringify(
        { lockfile: shown, written: !same, packages: Object.keys(lock.packages).length, changes: changes ?? null },
        null,
        2,
      ),
    );
    return 0;
  }
  for (const pin of changes?.added ?? []) ctx.out(`  + ${pin.name} ${pin.version}`);
  for (const pin of changes?.removed ?? []) ctx.out(`  - ${pin.name} ${pin.version}`);
  for (const move of changes?.moved ?? [])
    ctx.out(`  ~ ${move.name} ${move.from} → ${move.to}${followsBase.has(move.name) ? ` (as ${baseShown})` : ''}`);
  const drift = inherited ? driftFromBase(lock, inherited.lock) : [];
  if (drift.length > 0)
    ctx.err(`warning: ${shown} pins other versions than its base ${baseShown}: ${describeDrift(drift)}`);
  else if (inherited && !same) ctx.out(`  inherited pins from ${baseShown}`);
  const count = `${Object.keys(lock.packages).length} packages for ${Object.keys(lock.images).length} images`;
  ctx.out(
    same ? `${shown} is up to date (${count})` : `wrote ${shown} (${count}, SOURCE_DATE_EPOCH ${lock.sourceDateEpoch})`,
  );
  return 0;
}

// The lock verb.
export const lockCommand: Command = {
  name: 'lock',
  summary: 'pin every input of a recipe (packages, kernel, firmware, Node) in its lockfile',
  usage: 'mvos lock [recipe] [--update NAME]… [--apt-sources FILE] [--check] [--json]',
  description:
    "Resolves the packages of the recipe and of every VM recipe it names (their dependency closure on an empty system), the kernel, the firmware and the Node runtime against this machine's apt sources, and writes recipes/<name>.lock.json. Locked versions stay as they are unless named with --update; a locked version the sources no longer offer is an error, never a silent move.",
  flags: {
    update: { type: 'string', multiple: true },
    'apt-sources': { type: 'string' },
    check: { type: 'boolean' },
    offline: { type: 'boolean' },
  },
  flagHelp: {
    update: 'move this package to the version apt offers now (repeatable)',
    'apt-sources':
      "resolve against this sources.list or .sources file instead of the recipe's Debian suite on the machine's mirror",
    check: 'write nothing; exit 2 when the lockfile is out of date',
    offline: 'fail instead of downloading package indexes',
  },
  json: true,
  run,
};
