// The packages stage: every pinned .deb of an image unpacked into one tree, less what the recipe's drop rules remove.
import { writeTar } from '../archive/tar.ts';
import type { PackagePin } from '../inputs/apt.ts';
import type { Recipe } from '../recipe/types.ts';
import { compileGlobs, dropFilter, dropLinksToDropped } from '../rootfs/drop.ts';
import { type TrimmedIcu, trimIcuData } from '../rootfs/icu.ts';
import { pruneUnreferencedLibraries } from '../rootfs/libraries.ts';
import { addMergedUsrLinks, isMergedUsr } from '../rootfs/merged-usr.ts';
import { addDebToTree, FileTree } from '../rootfs/tree.ts';
import { packageVersions } from '../tools/versions.ts';
import type { ImageContext } from './image.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage, sha256 } from './stage.ts';

// The unpacked packages as a tar blob, and what the drop rules and the library pruning removed.
export interface InstalledPackages {
  tar: string;
  dropped: { rules: string[]; files: number; libraries: string[]; icu?: TrimmedIcu };
}

// The rule named in the manifest for what the pruning removed.
const PRUNE_RULE = 'shared libraries nothing needs (libraries.prune)';

function pinsKey(pins: readonly PackagePin[]): string {
  return sha256(pins.map((p) => `${p.name}=${p.version}:${p.sha256}`).join('\n'));
}

// Unpacks the pins in their locked order, less the drop rules' files and, with libraries.prune, the libraries nothing
// needs; keyed by the pins, the rules and SOURCE_DATE_EPOCH.
export async function installPackages(
  ctx: ImageContext,
  recipe: Recipe,
  pins: readonly PackagePin[],
): Promise<InstalledPackages> {
  const drop = dropFilter(recipe.drop);
  const code = await hashCode(['builder/pipeline/packages.ts', 'builder/rootfs/merged-usr.ts']);
  const record = await runLoggedStage(
    ctx,
    `packages(${recipe.name})`,
    {
      pins: pinsKey(pins),
      drop: sha256(drop.rules.join('\n')),
      libraries: JSON.stringify(recipe.libraries),
      icuTools: recipe.libraries.icuLocales.length ? await packageVersions(['icu-devtools', 'binutils']) : '',
      sde: String(ctx.sourceDateEpoch),
      mergedUsr: String(isMergedUsr(recipe.debian.suite)),
      code,
    },
    async () => {
      const tree = new FileTree();
      if (isMergedUsr(recipe.debian.suite)) addMergedUsrLinks(tree, `debian:${recipe.debian.suite}`);
      const dropped: string[] = [];
      const task = ctx.progress.start(`extracting ${pins.length} packages for ${recipe.name}`, pins.length);
      for (const pin of pins) {
        const deb = await ctx.cache.read(pin.sha256, `${pin.name} ${pin.version}`);
        const result = await addDebToTree(tree, deb, { origin: `pkg:${pin.name}`, keep: drop.keep, label: pin.name });
        dropped.push(...result.dropped);
        task.advance(1);
      }
      task.done();
      dropped.push(...dropLinksToDropped(tree, drop.keep));
      const pruned = recipe.libraries.prune
        ? pruneUnreferencedLibraries(tree, compileGlobs(recipe.libraries.keep))
        : { removed: [], unresolved: [] };
      for (const missing of pruned.unresolved) ctx.log(`warning: ${recipe.name}: no library provides ${missing}`);
      const icu = recipe.libraries.icuLocales.length ? await trimIcuData(tree, recipe.libraries.icuLocales) : undefined;
      if (icu)
        ctx.log(
          `${recipe.name}: ICU data for ${recipe.libraries.icuLocales.join(', ')}: ${icu.before} → ${icu.after} bytes`,
        );
      return {
        'packages.tar': await writeTar(tree, { mtime: ctx.sourceDateEpoch }),
        'dropped.json': Buffer.from(JSON.stringify({ files: dropped.sort(), libraries: pruned.removed, icu })),
      };
    },
  );
  const dropped = JSON.parse((await ctx.cache.read(record.outputs['dropped.json']!, 'dropped files')).toString()) as {
    files: string[];
    libraries: string[];
    icu?: TrimmedIcu;
  };
  const rules = recipe.libraries.prune ? [...drop.rules, PRUNE_RULE] : drop.rules;
  return {
    tar: record.outputs['packages.tar']!,
    dropped: {
      rules,
      files: dropped.files.length + dropped.libraries.length,
      libraries: dropped.libraries,
      ...(dropped.icu ? { icu: dropped.icu } : {}),
    },
  };
}
