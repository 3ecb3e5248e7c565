// Loads a recipe: YAML → extends → JSON Schema → semantic rules → guest recipes → frozen Recipe, collecting every
// problem.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { formatProblem, type Problem, sortProblems, UserError } from '../../common/errors.ts';
import { checkApiRules } from './api-rules.ts';
import { mergeLocations, mergeRecipeData } from './merge.ts';
import { checkNetworkRules } from './network-rules.ts';
import { normalizeRecipe } from './normalize.ts';
import { checkRecipeRules, checkVmRules, type RuleContext, resolveFrom, schemaVerdicts } from './rules.ts';
import { validateAgainstSchema } from './schema.ts';
import type { MultiverseRecipe } from './schema.types.ts';
import { defaultDebianSuite, type Recipe } from './types.ts';
import { checkUpdateRules } from './update-rules.ts';
import { type LocationMap, locate, parseYaml } from './yaml-source.ts';

// The outcome of loading: a recipe when there were no problems, else every problem found.
export interface LoadResult {
  recipe?: Recipe;
  problems: Problem[];
}

// The same problem reached twice (a guest recipe two VMs share) is reported once.
function uniqueProblems(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = formatProblem(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface RawRecipe {
  data?: Record<string, unknown>;
  // The files it extends, nearest first.
  bases?: string[];
  locations: LocationMap;
  problems: Problem[];
}

// Loads recipes relative to a working directory; guest recipes are loaded once each.
export class RecipeLoader {
  private readonly loaded = new Map<string, LoadResult>();
  constructor(private readonly cwd: string = process.cwd()) {}

  // Shows a path as the user would type it: relative to the working directory.
  display = (path: string): string => {
    const rel = relative(this.cwd, path);
    return rel.startsWith('..') ? path : rel;
  };

  // Loads one recipe file and everything it refers to.
  load(file: string): LoadResult {
    const absolute = resolve(this.cwd, file);
    const cached = this.loaded.get(absolute);
    if (cached) return cached;
    const loaded = this.loadUncached(absolute);
    const result = { ...loaded, problems: uniqueProblems(sortProblems(loaded.problems)) };
    this.loaded.set(absolute, result);
    return result;
  }

  private loadUncached(file: string): LoadResult {
    const raw = this.readWithBases(file, []);
    if (!raw.data || raw.problems.length > 0) return { problems: raw.problems };
    const data = structuredClone(raw.data);
    delete data.extends;
    // Rules still run past schema problems, on the parts the schema found sound, so every problem comes at once.
    const schemaProblems = validateAgainstSchema(data, raw.locations);
    const recipeData = data as unknown as MultiverseRecipe;
    const verdicts = schemaVerdicts(schemaProblems.map((p) => p.path ?? ''));
    const ctx: RuleContext = { file, raw: recipeData, locations: raw.locations, display: this.display, ...verdicts };
    const problems = [
      ...schemaProblems,
      ...checkRecipeRules(ctx),
      ...checkVmRules(ctx),
      ...checkApiRules(ctx),
      ...checkNetworkRules(ctx),
      ...checkUpdateRules(ctx),
    ];
    const guests = new Map<string, Recipe>();
    const vmsUsable = ctx.usable('/vms') && ctx.sound('/kind') && recipeData.kind === 'host';
    for (const [name, vm] of Object.entries(vmsUsable ? (recipeData.vms ?? {}) : {})) {
      if (!vm || !ctx.sound(`/vms/${name}`)) continue;
      const path = `/vms/${name}/recipe`;
      const guestFile = resolveFrom(ctx, path, vm.recipe);
      if (!existsSync(guestFile)) {
        problems.push({
          location: locate(raw.locations, path),
          path,
          message: `VM recipe ${this.display(guestFile)} does not exist`,
          hint: 'create it (kind: guest) or fix the path, which is relative to this recipe',
        });
        continue;
      }
      const guest = this.load(guestFile);
      problems.push(...guest.problems);
      if (!guest.recipe) continue;
      if (guest.recipe.kind !== 'guest') {
        problems.push({
          location: locate(raw.locations, path),
          path,
          message: `${this.display(guestFile)} is a ${guest.recipe.kind} recipe, a VM needs a guest recipe`,
          hint: 'set `kind: guest` in it',
        });
        continue;
      }
      const hostSuite = ctx.sound('/debian') ? (recipeData.debian?.suite ?? defaultDebianSuite) : undefined;
      if (hostSuite !== undefined && guest.recipe.debian.suite !== hostSuite) {
        // One lockfile pins the host and its VMs by package name: two releases would pin one name twice.
        problems.push({
          location: locate(raw.locations, path),
          path,
          message: `${this.display(guestFile)} is built from Debian ${guest.recipe.debian.suite}, this host from ${hostSuite}`,
          hint: `a host's VMs come from the host's suite: set \`debian: { suite: ${hostSuite} }\` in the guest recipe, or give this host its own guest recipe`,
        });
        continue;
      }
      if (vm.launch === 'container' && !guest.recipe.container) {
        const launchPath = `/vms/${name}/launch`;
        problems.push({
          location: locate(raw.locations, launchPath),
          path: launchPath,
          message: `launch: container needs a \`container:\` section in ${this.display(guestFile)}`,
          hint: 'name the OCI image there: `container: { image: ./app.tar }`',
        });
      }
      guests.set(name, guest.recipe);
    }
    if (problems.length > 0) return { problems };
    // Paths are relative to the file that wrote them: a base recipe in another folder keeps its own overlays and
    // templates.
    return {
      recipe: normalizeRecipe(
        file,
        recipeData,
        guests,
        (pointer, value) => resolveFrom(ctx, pointer, value),
        raw.bases,
      ),
      problems: [],
    };
  }

  // Reads a file and the chain of recipes it extends, merged base-first.
  private readWithBases(file: string, chain: string[]): RawRecipe {
    const shown = this.display(file);
    if (!existsSync(file)) {
      return {
        locations: new Map(),
        problems: [{ message: `${shown}: no such recipe file`, hint: 'list the recipes with `ls recipes/*.yaml`' }],
      };
    }
    const parsed = parseYaml(readFileSync(file, 'utf8'), shown);
    if (parsed.problems.length > 0) return { locations: parsed.locations, problems: parsed.problems };
    if (typeof parsed.data !== 'object' || parsed.data === null || Array.isArray(parsed.data)) {
      return {
        locations: parsed.locations,
        problems: [
          {
            location: parsed.locations.get('')?.value ?? { file: shown, line: 1, col: 1 },
            path: '',
            message: 'a recipe must be a YAML mapping (key: value lines)',
            hint: 'start with `kind: host` or `kind: guest`',
          },
        ],
      };
    }
    const data = parsed.data as Record<string, unknown>;
    if (typeof data.extends !== 'string') return { data, locations: parsed.locations, problems: [] };
    const baseFile = resolve(dirname(file), data.extends);
    const where = locate(parsed.locations, '/extends');
    if (chain.includes(baseFile) || baseFile === file) {
      const cycle =
        baseFile === file ? 'extends itself' : `extends ${this.display(baseFile)}, which extends this recipe again`;
      return {
        locations: parsed.locations,
        problems: [
          {
            location: where,
            path: '/extends',
            message: `${cycle} (a cycle)`,
            hint: 'break the chain: a recipe may not extend itself, directly or through others',
          },
        ],
      };
    }
    if (!existsSync(baseFile)) {
      return {
        locations: parsed.locations,
        problems: [
          {
            location: where,
            path: '/extends',
            message: `extends ${this.display(baseFile)}, which does not exist`,
            hint: 'the path is relative to this recipe',
          },
        ],
      };
    }
    const base = this.readWithBases(baseFile, [...chain, file]);
    if (!base.data || base.problems.length > 0) return base;
    return {
      data: mergeRecipeData(base.data, data) as Record<string, unknown>,
      bases: [baseFile, ...(base.bases ?? [])],
      locations: mergeLocations(base.locations, parsed.locations, data),
      problems: [],
    };
  }
}

// Loads one recipe with a fresh loader.
export function loadRecipe(file: string, cwd: string = process.cwd()): LoadResult {
  return new RecipeLoader(cwd).load(file);
}

// Loads a recipe a command needs, or throws a UserError carrying every problem.
export function requireRecipe(file: string, cwd: string = process.cwd()): Recipe {
  const result = loadRecipe(file, cwd);
  if (result.recipe) return result.recipe;
  const n = result.problems.length;
  throw new UserError(`${file} has ${n} problem${n === 1 ? '' : 's'}`, {
    problems: result.problems,
    hint: `fix them (\`mvos validate ${file}\` lists them), then try again`,
  });
}
