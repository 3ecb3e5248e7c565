// Bench rows for the onion call-home, over the private Tor network of scenario 024 (all on this machine): how long a
// freshly started Tor on the owner's side takes to its first `status` over SSH through the onion address (descriptor,
// introduction, rendezvous, login), and the `status` round trip through the onion beside the same command straight to
// the agent's SSH listener on loopback, in the same run; and `mvos vm list` over the API through the onion.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ARTIFACTS } from '../lib/boot.ts';
import { TorHost } from '../lib/tor-host.ts';
import { type BenchRow, median } from './agent.ts';

const SOCKS = 9050;

// Runs `attempt` until it succeeds (at most `tries` times, 3 s apart); throws with the last failure.
async function first<T extends { status: number; err: string; out: string }>(
  attempt: () => Promise<T>,
  tries: number,
): Promise<T> {
  let result = await attempt();
  for (let i = 1; result.status !== 0 && i < tries; i++) {
    await sleep(3000);
    result = await attempt();
  }
  if (result.status !== 0) throw new Error(`no success in ${tries} tries: ${result.out}${result.err}`);
  return result;
}

// The rows; `runs` round trips each way.
export async function onionRows(runs: number): Promise<BenchRow[]> {
  const host = await TorHost.start({ dir: join(ARTIFACTS, 'bench-onion'), netns: 'mvb-torinet', tap: 'mvbtor0' });
  try {
    const enrolled = host.enrol('bench', join(host.dir, 'auth'));
    if (enrolled.status !== 0) throw new Error(`enrol: ${enrolled.out}`);
    const until = Date.now() + 180_000;
    while (!(await host.onionView()).serving && Date.now() < until) await sleep(1000);
    if (!(await host.onionView()).serving) throw new Error('the gateway never served the onion address');
    const started = Date.now();
    const tor = host.lab.launch('owner', {
      socksPort: `127.0.0.1:${SOCKS} ExtendedErrors`,
      extra: [`ClientOnionAuthDir ${join(host.dir, 'auth')}`],
    });
    await host.lab.bootstrapped(tor);
    const bootstrapped = Date.now();
    await first(() => host.sshStatus(SOCKS), 20);
    const connected = Date.now();
    const onion: number[] = [];
    const direct: number[] = [];
    const api: number[] = [];
    const { address } = await host.onionView();
    for (let i = 0; i < runs; i++) {
      onion.push((await first(() => host.sshStatus(SOCKS), 3)).ms);
      direct.push((await first(() => host.sshStatus(), 3)).ms);
      api.push((await first(() => host.mvos(['vm', 'list', '--host', `http://${address}`], SOCKS), 3)).ms);
    }
    const onionMs = median(onion);
    const directMs = median(direct);
    return [
      {
        metric: 'onion call-home: a fresh Tor to its first `status` over SSH',
        value: (connected - bootstrapped) / 1000,
        unit: 's',
        note: `its Tor bootstrapped in ${((bootstrapped - started) / 1000).toFixed(1)} s before that; private test network`,
      },
      {
        metric: '`status` over SSH through the onion address (median)',
        value: onionMs / 1000,
        unit: 's',
        baseline: directMs / 1000,
        ratio: onionMs / directMs,
        note: `baseline: the same ssh straight to the agent on loopback; ${runs} runs each, each a new ssh connection`,
      },
      {
        metric: '`mvos vm list` over the API through the onion address (median)',
        value: median(api) / 1000,
        unit: 's',
        note: 'a whole CLI process: login (password + code) and the list, through SOCKS',
      },
    ];
  } finally {
    await host.stop();
  }
}
