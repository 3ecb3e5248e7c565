// What a VM may ask of the vault over its own secrets channel: every VM its own secrets (`GET NAME`); the controller
// and the rescue VM, whose consoles are where a person at the machine works, also unlock it (`UNLOCK <passphrase,
// base64>`, `UNLOCK-SHARES CARD…`) and run a custodians' drill (`DRILL CARD…`), through the vault's attempt gate.
import { ControlError } from '../controls.ts';
import type { ChannelHandler } from './channel.ts';
import type { VaultService } from './service.ts';

// The roles whose VMs may unlock the vault and drill its custodians.
const CONSOLE_ROLES = new Set(['controller', 'rescue']);
// The most share cards one request may carry (a set has at most 32).
const MAX_CARDS = 32;

const ok = (text: string): string => `OK ${Buffer.from(text, 'utf8').toString('base64')}`;
// A reason on one line.
const no = (text: string): string => `NO ${text.replace(/[\r\n]+/g, ' ').slice(0, 500)}`;

async function answered(work: () => Promise<string>): Promise<string> {
  try {
    return ok(await work());
  } catch (error) {
    if (error instanceof ControlError) return no(error.message);
    throw error;
  }
}

// The handler of one VM's channel.
export function vmRequests(
  vault: Pick<VaultService, 'secretForVm' | 'unlock' | 'drill'>,
  vm: { name: string; role: string },
): ChannelHandler {
  const by = `the console of ${vm.name}`;
  return async (line) => {
    const space = line.indexOf(' ');
    const verb = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? '' : line.slice(space + 1);
    if (verb === 'GET') {
      if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(rest)) return no('GET takes an entry name');
      const answer = vault.secretForVm(vm.name, rest);
      return answer.ok ? ok(answer.secret) : no(answer.reason);
    }
    if (verb !== 'UNLOCK' && verb !== 'UNLOCK-SHARES' && verb !== 'DRILL') return no('requests are GET NAME');
    if (!CONSOLE_ROLES.has(vm.role))
      return no(`only the controller and rescue VMs may ${verb.toLowerCase()} the vault`);
    if (verb === 'UNLOCK') {
      if (!/^[A-Za-z0-9+/]{1,2048}={0,2}$/.test(rest)) return no('UNLOCK takes the passphrase in base64');
      const passphrase = Buffer.from(rest, 'base64').toString('utf8');
      return answered(async () => {
        const view = await vault.unlock({ passphrase }, by);
        return `vault ${view.state}, ${view.entries?.length ?? 0} entries`;
      });
    }
    const cards = rest.split(' ').filter(Boolean);
    if (cards.length === 0 || cards.length > MAX_CARDS) return no(`give 1 to ${MAX_CARDS} share cards`);
    if (verb === 'DRILL') return answered(() => vault.drill(cards, by));
    return answered(async () => {
      const view = await vault.unlock({ shares: cards }, by);
      return `vault ${view.state}, ${view.entries?.length ?? 0} entries`;
    });
  };
}
