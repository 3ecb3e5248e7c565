// Semantic rules beyond the schema: files that must exist, CPUs pinned twice, fallbacks to nowhere, undefined template
// names.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Problem, SourceLocation } from '../../common/errors.ts';
import { closest } from './messages.ts';
import type { MultiverseRecipe } from './schema.types.ts';
import { type TemplateReference, templateReferences, templateSyntaxError } from './templates.ts';
import { type LocationMap, locate } from './yaml-source.ts';

// The kernel-config/ folder that `kernel.source` names live in.
export const kernelConfigDir = fileURLToPath(new URL('../../kernel-config', import.meta.url));

// Names every template can use besides the recipe's own variables.
export const builtinTemplateNames = ['recipe', 'vms', 'kernel', 'agent', 'host', 'boot'] as const;

// Context for rule checks: the raw merged data, where each value came from and how to show paths.
export interface RuleContext {
  file: string;
  raw: MultiverseRecipe;
  locations: LocationMap;
  display: (path: string) => string;
  // The schema found nothing wrong at the pointer or above it: the value has its declared shape (its parts may still be
  // wrong).
  usable: (pointer: string) => boolean;
  // Usable, and nothing wrong below it either: rules only judge sound data, so one mistake is reported once.
  sound: (pointer: string) => boolean;
}

// The usable/sound predicates from the paths of the schema's problems.
export function schemaVerdicts(problemPaths: readonly string[]): Pick<RuleContext, 'usable' | 'sound'> {
  const usable = (pointer: string): boolean =>
    !problemPaths.some((p) => p === pointer || p === '' || pointer.startsWith(`${p}/`));
  return { usable, sound: (pointer) => usable(pointer) && !problemPaths.some((p) => p.startsWith(`${pointer}/`)) };
}

function at(ctx: RuleContext, path: string): SourceLocation | undefined {
  return locate(ctx.locations, path);
}

// Where a path in the recipe resolves to: relative to the file that wrote it (which, after extends, may be the base).
export function resolveFrom(ctx: RuleContext, path: string, value: string): string {
  const origin = at(ctx, path)?.file;
  return resolve(dirname(origin ? resolve(origin) : ctx.file), value);
}

// Rules about the recipe's own fields: kernel choice, kinds, files that must exist.
export function checkRecipeRules(ctx: RuleContext): Problem[] {
  const { raw } = ctx;
  const problems: Problem[] = [];
  const kernelSound = ctx.sound('/kernel') && ctx.sound('/kind');
  if (kernelSound && raw.kernel?.package && raw.kernel?.source) {
    problems.push({
      location: at(ctx, '/kernel/source'),
      path: '/kernel/source',
      message: 'kernel.package and kernel.source both set',
      hint: 'choose one: a Debian kernel package or a kernel built from kernel-config/',
    });
  }
  if (kernelSound && !raw.kernel?.package && !raw.kernel?.source && raw.kind === 'host') {
    problems.push({
      location: at(ctx, '/kernel'),
      path: '/kernel',
      message: 'a host recipe needs a kernel',
      hint: 'add `kernel: { package: linux-image-amd64 }`',
    });
  }
  if (kernelSound && raw.kernel?.source && !existsSync(resolve(kernelConfigDir, raw.kernel.source))) {
    problems.push({
      location: at(ctx, '/kernel/source'),
      path: '/kernel/source',
      message: `no kernel config "${raw.kernel.source}" in kernel-config/`,
      hint: 'create kernel-config/<name>/ with config fragments, or use kernel.package',
    });
  }
  if (raw.kind === 'guest' && ctx.sound('/kind') && ctx.usable('/vms') && raw.vms && Object.keys(raw.vms).length > 0) {
    problems.push({
      location: at(ctx, '/vms'),
      path: '/vms',
      message: 'a guest recipe cannot have VMs of its own',
      hint: 'VMs belong in a host recipe (kind: host)',
    });
  }
  if (raw.kind === 'host' && ctx.sound('/kind') && raw.container) {
    problems.push({
      location: at(ctx, '/container'),
      path: '/container',
      message: 'only a guest recipe can describe a container',
      hint: 'move it into the guest recipe of a VM with `launch: container`',
    });
  }
  (ctx.usable('/overlays') ? (raw.overlays ?? []) : []).forEach((overlay, i) => {
    const path = `/overlays/${i}`;
    if (!ctx.sound(path)) return;
    const dir = resolveFrom(ctx, path, overlay);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      problems.push({
        location: at(ctx, path),
        path,
        message: `overlay directory ${ctx.display(dir)} does not exist`,
        hint: 'create it or fix the path (relative to the recipe file)',
      });
    }
  });
  const targets = new Map<string, number>();
  (ctx.usable('/templates') ? (raw.templates ?? []) : []).forEach((template, i) => {
    if (!ctx.sound(`/templates/${i}`)) return;
    const previous = targets.get(template.target);
    if (previous !== undefined) {
      problems.push({
        location: at(ctx, `/templates/${i}/target`),
        path: `/templates/${i}/target`,
        message: `${template.target} is already written by template ${previous}`,
        hint: 'each target file may come from one template',
      });
    }
    targets.set(template.target, i);
  });
  problems.push(...checkTemplates(ctx));
  return problems;
}

// Every name a template uses must be a recipe variable or a built-in name; syntax errors are reported in the template
// file.
export function checkTemplates(ctx: RuleContext): Problem[] {
  const problems: Problem[] = [];
  if (!ctx.sound('/variables') || !ctx.usable('/templates')) return problems;
  const defined = [...Object.keys(ctx.raw.variables ?? {}), ...builtinTemplateNames];
  (ctx.raw.templates ?? []).forEach((template, i) => {
    const path = `/templates/${i}/source`;
    if (!ctx.sound(`/templates/${i}`)) return;
    const source = resolveFrom(ctx, path, template.source);
    if (!existsSync(source)) {
      problems.push({
        location: at(ctx, path),
        path,
        message: `template ${ctx.display(source)} does not exist`,
        hint: 'create it or fix the path (relative to the recipe file)',
      });
      return;
    }
    const text = readFileSync(source, 'utf8');
    let references: TemplateReference[];
    try {
      references = templateReferences(text);
    } catch (error) {
      problems.push({ ...templateSyntaxError(error, ctx.display(source), text), path });
      return;
    }
    for (const ref of references) {
      if (defined.includes(ref.name)) continue;
      const guess = closest(ref.name, defined);
      problems.push({
        location: { file: ctx.display(source), line: ref.line, col: ref.col },
        path,
        message: `template variable "${ref.name}" is never defined`,
        hint: guess ? `did you mean "${guess}"?` : `define it under \`variables:\` in ${ctx.display(ctx.file)}`,
      });
    }
  });
  return problems;
}

// Rules across the host's VMs: pins match vCPU counts, no CPU is pinned twice or taken from housekeeping, fallbacks
// exist.
export function checkVmRules(ctx: RuleContext): Problem[] {
  const problems: Problem[] = [];
  if (!ctx.usable('/vms')) return problems;
  const vms = Object.entries(ctx.raw.vms ?? {});
  const housekeeping = new Set(ctx.sound('/host/housekeeping') ? (ctx.raw.host?.housekeeping ?? [0]) : []);
  const owner = new Map<number, string>();
  for (const [name, vm] of vms) {
    if (!vm || !ctx.sound(`/vms/${name}`)) continue;
    const base = `/vms/${name}`;
    if (vm.pin) {
      const cpus = vm.cpus ?? 1;
      if (vm.pin.length !== cpus) {
        problems.push({
          location: at(ctx, `${base}/pin`),
          path: `${base}/pin`,
          message: `pins ${vm.pin.length} CPU${vm.pin.length === 1 ? '' : 's'} but the VM has ${cpus} vCPU${cpus === 1 ? '' : 's'}`,
          hint: 'give one host CPU per vCPU, or drop `pin` to let the agent plan',
        });
      }
      vm.pin.forEach((cpu, i) => {
        const path = `${base}/pin/${i}`;
        if (housekeeping.has(cpu)) {
          problems.push({
            location: at(ctx, path),
            path,
            message: `CPU ${cpu} is kept for host housekeeping`,
            hint: 'pin the VM to other CPUs or change host.housekeeping',
          });
        } else if (owner.has(cpu)) {
          problems.push({
            location: at(ctx, path),
            path,
            message: `CPU ${cpu} is already pinned to VM "${owner.get(cpu)}"`,
            hint: 'each host CPU may be pinned to one VM',
          });
        } else {
          owner.set(cpu, name);
        }
      });
    }
    const fallback = (vm as { fallback?: string }).fallback;
    if (fallback !== undefined) {
      const path = `${base}/fallback`;
      if (fallback === name) {
        problems.push({ location: at(ctx, path), path, message: 'a VM cannot fall back to itself' });
      } else if (!ctx.raw.vms?.[fallback]) {
        problems.push({
          location: at(ctx, path),
          path,
          message: `falls back to VM "${fallback}", which is not defined`,
          hint:
            fallback === 'rescue'
              ? 'add a `rescue:` VM under vms (e.g. `recipe: rescue.yaml`)'
              : `define vms.${fallback}, or remove the fallback`,
        });
      }
    }
  }
  return problems;
}
