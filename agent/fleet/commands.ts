// An operator's command from the fleet: the SSH jail's grammar and command set, run with the operator's name as who
// did it and audited like a jail command; what streams (a console, a bundle, a passphrase) is not taken.
import type { FleetCommandAnswer } from '../../common/fleet/status.ts';
import type { UpdateControls } from '../api/update-routes.ts';
import type { VaultControls } from '../api/vault-routes.ts';
import type { AuditLog } from '../auth/audit.ts';
import type { Controls } from '../controls.ts';
import { MAX_COMMAND_CHARS, parseCommand } from '../ssh/commands.ts';
import { runJailCommand } from '../ssh/jail.ts';

// Commands that need a stream of their own: the SSH jail has them, the fleet does not.
const STREAMED = new Set(['console', 'update-apply', 'vault-unlock']);

// Answers one request body from `operator`.
export async function answerCommand(
  data: Uint8Array,
  operator: string,
  services: { controls: Controls; update?: UpdateControls; vault?: VaultControls; audit: AuditLog },
): Promise<FleetCommandAnswer> {
  const who = `fleet:${operator}`;
  const audit = (result: 'ok' | 'refused' | 'error', target: string, reason?: string) =>
    services.audit
      .record({
        who,
        source: 'fleet',
        action: 'exec',
        result,
        target: target.slice(0, 300),
        ...(reason ? { reason } : {}),
      })
      .catch(() => undefined);
  let command: string;
  try {
    if (data.length > 4 * MAX_COMMAND_CHARS) throw new Error('too long');
    const body = JSON.parse(new TextDecoder().decode(data)) as { command?: unknown };
    if (typeof body.command !== 'string') throw new Error('no command');
    command = body.command;
  } catch {
    await audit('refused', '', 'not a fleet command request');
    return { exitCode: 2, stdout: '', stderr: 'refused: send {"command": "…"}\n' };
  }
  const parsed = parseCommand(
    command,
    services.controls.listVms().map((vm) => vm.name),
  );
  if (!parsed.ok) {
    await audit('refused', command, parsed.message);
    return { exitCode: 2, stdout: '', stderr: `${parsed.message}\n` };
  }
  if (STREAMED.has(parsed.command.kind)) {
    const message = `refused: \`${command}\` streams; use the SSH jail for it`;
    await audit('refused', command, message);
    return { exitCode: 2, stdout: '', stderr: `${message}\n` };
  }
  const out = await runJailCommand(parsed.command, services.controls, who, {
    ...(services.update ? { update: services.update } : {}),
    ...(services.vault ? { vault: services.vault } : {}),
  });
  await audit(out.exitCode === 0 ? 'ok' : 'error', command, out.exitCode === 0 ? undefined : out.stderr.trim());
  return out;
}
