// Rules for `update`: a host with the agent, built onto a disk with A/B slots, gated on VMs it defines.
import type { Problem } from '../../common/errors.ts';
import { parsePublicKey } from '../../common/update/minisign.ts';
import { closest } from './messages.ts';
import type { RuleContext } from './rules.ts';
import { locate } from './yaml-source.ts';

// The update section: only on a host, one whose agent runs (it applies bundles and keeps the gate), with a writable
// disk among its outputs (an ISO has no slots), and every VM the gate requires defined.
export function checkUpdateRules(ctx: RuleContext): Problem[] {
  const update = ctx.raw.update;
  if (!update || !ctx.sound('/update')) return [];
  const problems: Problem[] = [];
  const add = (path: string, message: string, hint: string): void => {
    problems.push({ location: locate(ctx.locations, path), path, message, hint });
  };
  if (ctx.raw.kind !== 'host') {
    if (ctx.sound('/kind'))
      add('/update', 'only a host recipe can be updated with bundles', 'move `update` to the host recipe');
    return problems;
  }
  if (ctx.raw.agent?.enabled === false && ctx.sound('/agent'))
    add(
      '/update',
      'updates need the agent (it applies bundles and keeps the health gate)',
      'drop `agent.enabled: false`',
    );
  if (update.key !== 'key-folder') {
    try {
      parsePublicKey(update.key);
    } catch (error) {
      add(
        '/update/key',
        `is not a usable minisign public key: ${(error as Error).message}`,
        'copy the second line of update.pub',
      );
    }
  }
  const outputs = ctx.raw.outputs ?? ['kernel+initrd'];
  if (ctx.sound('/outputs') && !outputs.some((o) => o === 'raw' || o === 'qcow2'))
    add(
      '/update',
      'updates write the A/B slots of a raw or qcow2 disk, and this host builds neither',
      'add raw (or qcow2) to outputs',
    );
  const vms = Object.keys(ctx.usable('/vms') ? (ctx.raw.vms ?? {}) : {});
  (update.require ?? []).forEach((name, i) => {
    if (vms.includes(name) || !ctx.usable('/vms')) return;
    const guess = closest(name, vms);
    add(
      `/update/require/${i}`,
      `the health gate requires VM "${name}", which is not defined`,
      guess ? `did you mean "${guess}"?` : `define vms.${name} or drop it from update.require`,
    );
  });
  return problems;
}
