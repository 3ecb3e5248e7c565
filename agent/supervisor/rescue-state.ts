// Whether the host runs on its rescue VM, kept in stateDir/supervisor.json: an agent restarted on rescue stays on
// rescue.
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { readJsonOr } from '../../common/files.ts';
import type { RescueState } from '../controls.ts';

function rescueFile(stateDir: string): string {
  return join(stateDir, 'supervisor.json');
}

// The saved rescue state; not on rescue when none was saved.
export async function readRescueState(stateDir: string): Promise<RescueState> {
  return readJsonOr<RescueState>(rescueFile(stateDir), { active: false });
}

// Saves the rescue state atomically and durably.
export async function writeRescueState(stateDir: string, state: RescueState): Promise<void> {
  await writeFileAtomic(rescueFile(stateDir), `${JSON.stringify(state)}\n`, { mode: 0o600 });
}
