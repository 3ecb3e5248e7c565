// `mvos build [recipe]`: recipe + lockfile → pinned inputs in the cache → stages → images/<name>/.
import { relative } from 'node:path';
import { UserError } from '../../../common/errors.ts';
import { ContentCache } from '../../inputs/cache.ts';
import { buildRecipe } from '../../pipeline/build.ts';
import { createProgress } from '../../pipeline/progress.ts';
import type { Command, CommandContext } from '../command.ts';

async function run(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0] ?? 'recipes/host.yaml';
  if (ctx.positionals.length > 1)
    throw new UserError('build takes one recipe', { hint: 'run `mvos build` once per recipe' });
  const started = Date.now();
  const progress = createProgress(process.stderr, ctx.json, { color: ctx.color });
  // Through the progress, so a log line lands above a running bar instead of after it.
  const log = ctx.json ? () => undefined : (line: string) => progress.line(line, ctx.err);
  const build = await buildRecipe(file, {
    cwd: ctx.cwd,
    cache: ContentCache.fromEnvironment(),
    progress,
    offline: ctx.flags.offline === true,
    aptSources: ctx.flags['apt-sources'] as string | undefined,
    imagesDir: ctx.flags.output as string | undefined,
    log,
  });
  const seconds = (Date.now() - started) / 1000;
  const ran = build.stages.filter((s) => s.ran);
  const out = relative(ctx.cwd, build.outputDir) || '.';
  if (ctx.json) {
    ctx.out(
      JSON.stringify(
        {
          recipe: build.recipe.name,
          version: build.recipe.version,
          output: out,
          upToDate: build.upToDate,
          seconds,
          fetched: build.fetched,
          verifiedBytes: build.verifiedBytes,
          stages: build.stages.map((s) => ({ stage: s.stage, ran: s.ran, reason: s.reason, seconds: s.seconds })),
        },
        null,
        2,
      ),
    );
    return 0;
  }
  if (ran.length === 0 && build.upToDate) ctx.out(`${out} is up to date: nothing to do (${seconds.toFixed(2)} s)`);
  else
    ctx.out(
      `built ${out} in ${seconds.toFixed(1)} s: ${ran.length} of ${build.stages.length} stages ran${ran.length ? ` (${ran.map((s) => s.stage).join(', ')})` : ''}`,
    );
  return 0;
}

// The build verb.
export const buildCommand: Command = {
  name: 'build',
  summary: 'build the images a recipe describes from its lockfile',
  usage:
    'mvos build [recipe] [--output DIR] [--offline] [--apt-sources FILE] [--json]  (default recipe: recipes/host.yaml)',
  description:
    'Validates the recipe, checks that its lockfile matches it, puts every pinned package into the ' +
    'content-addressed cache (verifying each sha256), runs the stages whose inputs changed (packages, kernel, ' +
    'agent, guest images, rootfs, initramfs) and writes vmlinuz, initrd, manifest.json and sbom.spdx.json to ' +
    'images/<name>/ atomically. With a warm cache it needs no network; --offline makes any download an error.',
  flags: { offline: { type: 'boolean' }, 'apt-sources': { type: 'string' }, output: { type: 'string' } },
  flagHelp: {
    offline: 'fail instead of downloading anything',
    'apt-sources': 'download from this sources.list or .sources file',
    output: 'write images/<name>/ under this folder instead of ./images',
  },
  json: true,
  run,
};
