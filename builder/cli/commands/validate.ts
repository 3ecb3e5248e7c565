// `mvos validate [recipe…]`: every problem in the recipes at once, or a line per clean recipe.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatProblem, type Problem, UserError } from '../../../common/errors.ts';
import { RecipeLoader } from '../../recipe/load.ts';
import type { Command, CommandContext } from '../command.ts';

// Files under a folder whose names end with the suffix (recipes by default), sorted; shared with `mvos cache gc` for
// lockfiles.
export function findFilesEndingWith(dir: string, suffix = '.yaml'): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findFilesEndingWith(path, suffix));
    else if (name.endsWith(suffix)) found.push(path);
  }
  return found;
}

async function run(ctx: CommandContext): Promise<number> {
  const files =
    ctx.positionals.length > 0
      ? ctx.positionals
      : findFilesEndingWith(join(ctx.cwd, 'recipes')).map((f) => relative(ctx.cwd, f));
  if (files.length === 0)
    throw new UserError('no recipes to validate', { hint: 'name one: `mvos validate recipes/host.yaml`' });
  const loader = new RecipeLoader(ctx.cwd);
  const seen = new Set<string>();
  const problems: Problem[] = [];
  const report: Array<{
    file: string;
    ok: boolean;
    kind?: string;
    name?: string;
    version?: string;
    vms?: string[];
    problems: Problem[];
  }> = [];
  for (const file of files) {
    const result = loader.load(file);
    const fresh = result.problems.filter((p) => !seen.has(formatProblem(p)));
    for (const p of fresh) seen.add(formatProblem(p));
    problems.push(...fresh);
    const recipe = result.recipe;
    report.push({
      file,
      ok: !!recipe,
      kind: recipe?.kind,
      name: recipe?.name,
      version: recipe?.version,
      vms: recipe?.vms.map((v) => v.name),
      problems: result.problems,
    });
    if (!ctx.json && recipe) {
      const vms = recipe.vms.length
        ? `, VMs: ${recipe.vms.map((v) => `${v.name} (${v.role}, ${v.launch})`).join(', ')}`
        : '';
      const networks = recipe.networks.length
        ? `, networks: ${recipe.networks.map((n) => `${n.name} (${n.subnet} via ${n.router}${n.vpn ? `, tunnel only: ${n.vpn.config}` : ''})`).join(', ')}`
        : '';
      ctx.out(`ok  ${file}: ${recipe.kind} ${recipe.name} ${recipe.version}${vms}${networks}`);
    }
  }
  if (ctx.json) {
    ctx.out(JSON.stringify({ ok: problems.length === 0, recipes: report }, null, 2));
    return problems.length === 0 ? 0 : 2;
  }
  if (problems.length > 0) {
    const bad = report.filter((r) => !r.ok).length;
    throw new UserError(
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${bad} recipe${bad === 1 ? '' : 's'}`,
      {
        problems,
        hint: 'fix them and run `mvos validate` again; the recipe reference is in README.md',
      },
    );
  }
  return 0;
}

// The validate verb.
export const validateCommand: Command = {
  name: 'validate',
  summary: 'check recipes against the schema and the semantic rules',
  usage: 'mvos validate [recipe…] [--json]',
  description:
    'Loads each recipe (default: every recipe under recipes/), follows `extends:` and the VM recipes it names, and ' +
    'reports every problem at once as file:line:col, JSON path, what was expected and a hint. Exit code 0 when ' +
    'clean, 2 when a recipe has problems.',
  flags: {},
  flagHelp: {},
  json: true,
  run,
};
