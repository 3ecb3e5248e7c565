// `mvos build <recipe>`: recipe → image in images/<name>/ (for now: validation and the build plan).
import { UserError } from '../../errors.ts';
import { RecipeLoader } from '../../recipe/load.ts';
import type { Command, CommandContext } from '../command.ts';

async function run(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0] ?? 'recipes/host.yaml';
  if (ctx.positionals.length > 1) throw new UserError('build takes one recipe', { hint: 'run `mvos build` once per recipe' });
  const result = new RecipeLoader(ctx.cwd).load(file);
  if (!result.recipe) {
    throw new UserError(`${file} has ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`, { problems: result.problems, hint: 'fix them, then build again' });
  }
  const recipe = result.recipe;
  ctx.out(`recipe ${file}: ${recipe.kind} ${recipe.name} ${recipe.version} is valid`);
  for (const vm of recipe.vms) ctx.out(`  vm ${vm.name}: ${vm.role}, ${vm.launch}, ${vm.cpus} vCPU, ${vm.memoryMiB} MiB, guest ${vm.recipe.name}`);
  ctx.out(`outputs requested: ${recipe.outputs.join(', ')}`);
  ctx.out('not built yet: the image pipeline (rootfs, initramfs, kernel, boot media) is not part of this version; nothing was written to images/');
  return 0;
}

// The build verb.
export const buildCommand: Command = {
  name: 'build',
  summary: 'build the images a recipe describes',
  usage: 'mvos build [recipe] (default recipes/host.yaml)',
  description: 'Validates the recipe and builds its outputs into images/<name>/.',
  flags: {},
  flagHelp: {},
  run,
};
