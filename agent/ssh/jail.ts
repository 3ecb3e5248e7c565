// Runs a parsed jail command against the agent's controls and renders its answer as text for an SSH channel.

import type { UpdateView } from '../../common/api-types.ts';
import { dashWhenEmpty, renderTable } from '../../common/table.ts';
import { updateLines } from '../../common/update/view-lines.ts';
import {
  CHECKPOINT_COLUMNS,
  LINK_COLUMNS,
  NETWORK_COLUMNS,
  ruleText,
  tunnelLines,
  VM_COLUMNS,
} from '../../common/view-columns.ts';
import type { UpdateControls } from '../api/update-routes.ts';
import type { VaultControls } from '../api/vault-routes.ts';
import {
  type CheckpointView,
  ControlError,
  type Controls,
  type HostFacts,
  type OnionView,
  type VmView,
} from '../controls.ts';
import { vaultLines } from '../vault/view-lines.ts';
import { JAIL_HELP, type JailCommand } from './commands.ts';

// What one command printed and the exit status the SSH client sees.
export interface JailOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// Console log bytes `vm logs` and `console` show before following.
export const LOG_TAIL_BYTES = 64 * 1024;

const VM_LIST = [
  VM_COLUMNS.name,
  VM_COLUMNS.role,
  VM_COLUMNS.launch,
  VM_COLUMNS.state,
  dashWhenEmpty(VM_COLUMNS.pid),
  dashWhenEmpty(VM_COLUMNS.since),
];
const CHECKPOINT_LIST = [
  CHECKPOINT_COLUMNS.id,
  dashWhenEmpty(CHECKPOINT_COLUMNS.parent),
  CHECKPOINT_COLUMNS.created,
  CHECKPOINT_COLUMNS.sizeBytes,
  dashWhenEmpty(CHECKPOINT_COLUMNS.flags),
  CHECKPOINT_COLUMNS.label,
];

function vmTable(vms: VmView[]): string {
  return vms.length === 0 ? 'no VMs' : renderTable(VM_LIST, vms).join('\n');
}

function vmDetail(vm: VmView): string {
  const lines = [
    `${vm.name}: ${vm.state} (${vm.role}, ${vm.launch}${vm.ephemeral ? ', ephemeral' : ''}${vm.autostart ? ', autostart' : ''})`,
  ];
  if (vm.pid) lines.push(`pid ${vm.pid}`);
  if (vm.readyAt) lines.push(`ready at ${vm.readyAt}`);
  if (vm.failure) lines.push(`failed at ${vm.failure.at}: ${vm.failure.reason}`);
  if (vm.pinning)
    lines.push(
      `vcpus on ${vm.pinning.vcpus.map((p) => p.cpu).join(',')}${vm.pinning.degraded ? ` (${vm.pinning.degraded})` : ''}`,
    );
  for (const event of vm.history.slice(-5))
    lines.push(`  ${event.at} ${event.event}${event.detail ? `: ${event.detail}` : ''}`);
  return lines.join('\n');
}

function updateLine(view: UpdateView | undefined): string[] {
  if (!view?.enabled) return [];
  const slots = view.slots.map((s) => `${s.slot} ${s.version ?? '-'} ${s.state}${s.bootSlot ? '*' : ''}`).join(', ');
  return [`update slot ${view.booted} booted; ${slots}${view.gate && !view.gate.passed ? '; on trial' : ''}`];
}

function hostStatus(
  facts: HostFacts,
  vms: VmView[],
  onion: OnionView | undefined,
  update: UpdateView | undefined,
): string {
  const rescue = facts.rescue.active
    ? `ACTIVE since ${facts.rescue.since ?? '?'} (${facts.rescue.reason ?? 'no reason given'})`
    : 'not active';
  const published = onion?.serving ? 'serving' : 'not serving';
  return [
    `host ${facts.name} ${facts.version}`,
    `accel ${facts.accel} (${facts.accelReason}); ${facts.cpus.online.length} CPUs; ${facts.memoryMiB} MiB`,
    `agent ${facts.versions.agent}, node ${facts.versions.node}, qemu ${facts.versions.qemu}`,
    `rescue ${rescue}`,
    ...(onion
      ? [`onion ${onion.address} (${published}, ${onion.clients.length} clients, Tor in ${onion.gateway})`]
      : []),
    ...updateLine(update),
    '',
    vmTable(vms),
  ].join('\n');
}

function checkpointTable(list: CheckpointView[]): string {
  return list.length === 0 ? 'no checkpoints' : renderTable(CHECKPOINT_LIST, list).join('\n');
}

function updates(update: UpdateControls | undefined): UpdateControls {
  if (!update) throw new ControlError('not-found', 'this agent takes no updates');
  return update;
}

// What the jail serves besides the VMs: updates, the vault, and the key the user logged in with.
export interface JailServices {
  update?: UpdateControls;
  vault?: VaultControls;
  publicKey?: string;
}

function vaultOf(vault: VaultControls | undefined): VaultControls {
  if (!vault) throw new ControlError('not-found', 'this agent keeps no vault');
  return vault;
}

async function answer(command: JailCommand, controls: Controls, who: string, services: JailServices): Promise<string> {
  const update = services.update;
  switch (command.kind) {
    case 'help':
      return JAIL_HELP;
    case 'status':
      return hostStatus(await controls.hostFacts(), controls.listVms(), controls.onion?.(), update?.view());
    case 'vm-list':
      return vmTable(controls.listVms());
    case 'vm':
      if (command.action === 'start') return vmDetail(await controls.startVm(command.vm));
      if (command.action === 'stop') return vmDetail(await controls.stopVm(command.vm));
      if (command.action === 'logs')
        return (await controls.consoleLog(command.vm, { tailBytes: LOG_TAIL_BYTES })).replace(/\n$/, '');
      return vmDetail(controls.getVm(command.vm) ?? notFound(command.vm));
    case 'checkpoint-list':
      return checkpointTable(await controls.listCheckpoints(command.vm));
    case 'checkpoint-create':
      return checkpointTable([await controls.createCheckpoint(command.vm, command.label)]);
    case 'checkpoint-rollback':
      await controls.rollback(command.vm, command.id);
      return `${command.vm} rolled back to ${command.id}`;
    case 'rescue': {
      const state = await controls.rescue(`requested over SSH by ${who}`);
      return `rescue ${state.active ? 'active' : 'not active'}${state.reason ? `: ${state.reason}` : ''}`;
    }
    case 'net-list': {
      const view = controls.networks();
      if (view.networks.length === 0) return 'no networks';
      return [
        ...renderTable(Object.values(NETWORK_COLUMNS), view.networks),
        ...view.routers.flatMap((r) => [
          `router ${r.vm}: ${r.state ?? 'unknown'}, uplink ${r.uplink}, ${r.ipv4}`,
          ...(r.problems ?? []).map((p) => `  uplink problem: ${p}`),
        ]),
      ].join('\n');
    }
    case 'net-status':
      return tunnelLines(controls.networks()).join('\n');
    case 'net-vm': {
      const links = controls.vmNet(command.vm);
      if (links.length === 0) return `${command.vm} is on no network`;
      const rules = links[0]!.rules.map((rule, i) => `  ${i + 1}. ${ruleText(rule)}`);
      return [
        ...renderTable(Object.values(LINK_COLUMNS), links),
        'rules:',
        ...(rules.length > 0 ? rules : ['  (none)']),
      ].join('\n');
    }
    case 'update-status':
      return updateLines(updates(update).view()).join('\n');
    case 'update-rollback': {
      const view = await updates(update).rollback(who, command.reboot);
      const slot = view.slots.find((s) => s.bootSlot)?.slot;
      return `the host boots slot ${slot} from now on${command.reboot ? ': rebooting' : ''}`;
    }
    case 'vault-status':
      return vaultLines(vaultOf(services.vault).view()).join('\n');
    case 'vault-lock':
      return vaultLines(vaultOf(services.vault).lock(who)).join('\n');
    case 'otp':
      return (await vaultOf(services.vault).code(command.entry)).code;
    case 'ssh-cert': {
      if (!services.publicKey) throw new ControlError('invalid', 'this login was not made with a key');
      return vaultOf(services.vault).issueCertificate({
        user: who,
        publicKey: services.publicKey,
        ...(command.validitySeconds !== undefined ? { validitySeconds: command.validitySeconds } : {}),
        ...(command.from ? { from: command.from } : {}),
      }).certificate;
    }
    case 'console':
    case 'update-apply':
    case 'vault-unlock':
      throw new Error('streams; the session runs it');
  }
}

function notFound(vm: string): never {
  throw new ControlError('not-found', `no VM named ${vm}`);
}

// Runs one command; a ControlError is the command's answer (exit 1), anything else an internal error (exit 70).
export async function runJailCommand(
  command: JailCommand,
  controls: Controls,
  who: string,
  services: JailServices = {},
): Promise<JailOutput> {
  try {
    return { exitCode: 0, stdout: `${await answer(command, controls, who, services)}\n`, stderr: '' };
  } catch (error) {
    if (error instanceof ControlError) return { exitCode: 1, stdout: '', stderr: `${error.kind}: ${error.message}\n` };
    return { exitCode: 70, stdout: '', stderr: `internal error: ${(error as Error).message}\n` };
  }
}
