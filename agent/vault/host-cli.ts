// `mvos vault …` on the host's own console (/usr/bin/mvos): the vault's state, and unlocking it after a boot with the
// passphrase (typed without echo) or custodians' shares (typed or pasted one a line), and locking it, through the
// running agent's socket.
import type { VaultView } from '../../common/api-types.ts';
import { FailureError, UserError } from '../../common/errors.ts';
import { askAgent, refused } from '../host-socket.ts';
import { vaultLines } from './view-lines.ts';

const USAGE = [
  'usage: mvos vault status | unlock [--shares] | lock',
  '',
  '  status    locked or not, custodians, the SSH CA, the entries (never a secret)',
  '  unlock    type the passphrase (not shown); --shares: type or paste share cards, one a line, an empty line ends',
  '  lock      the key leaves memory',
].join('\n');
// The most a typed line may be.
const MAX_LINE = 1024;

// Reads one line from stdin: on a terminal without echo (a passphrase), else as it comes.
export function readLine(
  input: NodeJS.ReadStream,
  prompt: (text: string) => void,
  text: string,
  hidden: boolean,
): Promise<string | undefined> {
  prompt(text);
  const raw = hidden && input.isTTY;
  if (raw) input.setRawMode(true);
  return new Promise((resolve) => {
    let line = Buffer.alloc(0);
    const text = (): string => line.toString('utf8');
    const finish = (value: string | undefined): void => {
      input.off('data', take);
      input.off('end', ended);
      if (raw) input.setRawMode(false);
      input.pause();
      line.fill(0);
      if (hidden) prompt('\n');
      resolve(value);
    };
    const take = (chunk: Buffer): void => {
      for (const byte of chunk) {
        if (byte === 0x03 || byte === 0x04 || line.length > MAX_LINE) {
          finish(undefined);
          return;
        }
        if (byte === 0x0d || byte === 0x0a) {
          finish(text());
          return;
        }
        // Backspace takes the last character, however many bytes it has.
        if (byte === 0x7f || byte === 0x08) line = Buffer.from([...text()].slice(0, -1).join(''));
        else line = Buffer.concat([line, Buffer.from([byte])]);
      }
    };
    const ended = (): void => finish(line.length > 0 ? text() : undefined);
    input.on('data', take);
    input.once('end', ended);
    input.resume();
  });
}

async function vault(method: string, path: string, body?: unknown): Promise<VaultView> {
  const answer = await askAgent(method, path, body === undefined ? undefined : { json: body });
  if (!answer) throw new FailureError('no agent answers on its socket: the vault is served by the running agent');
  if (answer.status >= 300) throw refused(answer);
  return answer.json as VaultView;
}

function print(view: VaultView): void {
  for (const line of vaultLines(view)) process.stdout.write(`${line}\n`);
}

// The shares as typed, one a line, until an empty line, the end of input, or as many as the set needs.
async function typedShares(needed: number): Promise<string[]> {
  const shares: string[] = [];
  const say = (text: string) => process.stderr.write(text);
  while (shares.length < needed) {
    const line = await readLine(process.stdin, say, `share ${shares.length + 1} of ${needed}: `, false);
    if (!line?.trim()) break;
    shares.push(line.trim());
  }
  return shares;
}

// Runs one `mvos vault` command on the host; returns the exit code.
export async function hostVaultCli(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const flags = rest.filter((a) => a.startsWith('--'));
  const unknown = flags.filter((a) => !(verb === 'unlock' && a === '--shares'));
  if (unknown.length > 0 || rest.length > flags.length)
    throw new UserError(`unexpected ${unknown[0] ?? rest.find((a) => !a.startsWith('--'))}`, {
      hint: USAGE.split('\n')[0],
    });
  switch (verb) {
    case 'status':
      print(await vault('GET', '/api/vault'));
      return 0;
    case 'lock':
      print(await vault('POST', '/api/vault/lock'));
      return 0;
    case 'unlock': {
      const view = await vault('GET', '/api/vault');
      if (view.state === 'none')
        throw new UserError('there is no vault yet', { hint: 'make one in the WebUI or the API' });
      if (view.state === 'unlocked') {
        print(view);
        return 0;
      }
      let body: unknown;
      if (flags.includes('--shares')) {
        if (!view.recovery) throw new UserError('this vault was made without custodians: only its passphrase opens it');
        body = { shares: await typedShares(view.recovery.threshold) };
      } else {
        const passphrase = await readLine(process.stdin, (t) => process.stderr.write(t), 'vault passphrase: ', true);
        if (passphrase === undefined) throw new UserError('no passphrase given');
        body = { passphrase };
      }
      print(await vault('POST', '/api/vault/unlock', body));
      return 0;
    }
    default:
      process.stdout.write(`${USAGE}\n`);
      return verb === undefined || verb === 'help' ? 0 : 2;
  }
}
