// `mvos build [recipe]`: recipe + lockfile → pinned inputs in the cache → image in images/<name>/.
import { UserError } from '../../errors.ts';
import { ContentCache } from '../../inputs/cache.ts';
import { buildRecipe } from '../../pipeline/build.ts';
import { createProgress } from '../../pipeline/progress.ts';
import type { Command, CommandContext } from '../command.ts';

async function run(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0] ?? 'recipes/host.yaml';
  if (ctx.positionals.length > 1) throw new UserError('build takes one recipe', { hint: 'run `mvos build` once per recipe' });
  const build = await buildRecipe(file, {
    cwd: ctx.cwd,
    cache: ContentCache.fromEnvironment(),
    progress: createProgress(process.stderr, ctx.json),
    offline: ctx.flags.offline === true,
    aptSources: ctx.flags['apt-sources'] as string | undefined,
  });
  const { recipe, lock, fetched } = build;
  const pins = Object.keys(lock.packages).length;
  if (ctx.json) {
    ctx.out(JSON.stringify({ recipe: recipe.name, version: recipe.version, packages: pins, fetched, verifiedBytes: build.verifiedBytes, image: null }, null, 2));
    return 0;
  }
  ctx.out(`recipe ${file}: ${recipe.kind} ${recipe.name} ${recipe.version}`);
  for (const vm of recipe.vms) ctx.out(`  vm ${vm.name}: ${vm.role}, ${vm.launch}, ${vm.cpus} vCPU, ${vm.memoryMiB} MiB, guest ${vm.recipe.name}`);
  ctx.out(`inputs: ${pins} pinned packages, ${fetched?.cached ?? 0} already cached, ${fetched?.fetched ?? 0} fetched, all verified (SOURCE_DATE_EPOCH ${lock.sourceDateEpoch})`);
  ctx.out('not built yet: the image stages (rootfs, initramfs, kernel, boot media) are not part of this version; nothing was written to images/');
  return 0;
}

// The build verb.
export const buildCommand: Command = {
  name: 'build',
  summary: 'build the images a recipe describes from its lockfile',
  usage: 'mvos build [recipe] [--offline] [--apt-sources FILE] [--json]  (default recipe: recipes/host.yaml)',
  description:
    'Validates the recipe, checks that its lockfile matches it, puts every pinned package into the content-addressed cache (verifying each sha256) and builds the outputs into images/<name>/. With a warm cache it needs no network; --offline makes any download an error.',
  flags: { offline: { type: 'boolean' }, 'apt-sources': { type: 'string' } },
  flagHelp: { offline: 'fail instead of downloading anything', 'apt-sources': 'download from this sources.list or .sources file' },
  json: true,
  run,
};
