// A real NATS cluster for the fleet's tests: Debian's nats-server (unpacked from apt's download cache, never installed,
// so no service starts) as three nodes on loopback with JetStream, each on its own ports and store, all taking the
// fleet's authorization block. Nodes can be killed and started again.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';

const APT_CACHE = '/var/cache/apt/archives';

// The nats-server binary, unpacked once into `dir`.
function unpackNatsServer(dir: string): string {
  const binary = join(dir, 'pkg/usr/sbin/nats-server');
  if (existsSync(binary)) return binary;
  const deb = readdirSync(APT_CACHE).find((name) => /^nats-server_.*_amd64\.deb$/.test(name));
  if (!deb)
    throw new Error(`no nats-server package in ${APT_CACHE}: run bash .ci/setup (it downloads it, installs nothing)`);
  const run = spawnSync('dpkg-deb', ['-x', join(APT_CACHE, deb), join(dir, 'pkg')], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`dpkg-deb: ${run.stderr}`);
  return binary;
}

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  config: string;
  process?: ChildProcess;
  log: string;
}

// The running cluster.
export class NatsCluster {
  private constructor(
    readonly dir: string,
    private readonly binary: string,
    readonly nodes: Node[],
  ) {}

  // Client URLs of every node.
  get servers(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  }

  // Starts `size` nodes with `authorization` (the fleet's block) and waits until each listens.
  static async start(authorization: string, size = 3): Promise<NatsCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'mvos-nats-'));
    const binary = unpackNatsServer(dir);
    await writeFile(join(dir, 'auth.conf'), authorization);
    const nodes: Node[] = [];
    for (let i = 1; i <= size; i++)
      nodes.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), config: '', log: '' });
    for (const node of nodes) {
      await mkdir(join(dir, node.name), { recursive: true });
      node.config = join(dir, `${node.name}.conf`);
      const routes = nodes.filter((n) => n !== node).map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
      await writeFile(
        node.config,
        [
          `server_name: ${node.name}`,
          `listen: 127.0.0.1:${node.port}`,
          `jetstream { store_dir: ${JSON.stringify(join(dir, node.name))}, max_memory_store: 64MB, max_file_store: 256MB }`,
          `cluster { name: mvos-test, listen: 127.0.0.1:${node.clusterPort}, routes: ${JSON.stringify(routes)} }`,
          'include ./auth.conf',
          '',
        ].join('\n'),
      );
    }
    const cluster = new NatsCluster(dir, binary, nodes);
    for (const node of nodes) await cluster.startNode(node.name);
    return cluster;
  }

  // Starts (or starts again) one node and waits for its client port.
  async startNode(name: string): Promise<void> {
    const node = this.nodes.find((n) => n.name === name)!;
    node.log = '';
    const child = spawn(this.binary, ['-c', node.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    node.process = child;
    const take = (chunk: Buffer) => (node.log += chunk.toString());
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    const until = Date.now() + 20_000;
    while (!/Server is ready/.test(node.log)) {
      if (child.exitCode !== null || Date.now() > until)
        throw new Error(`nats-server ${name} did not start:\n${node.log}`);
      await sleep(50);
    }
  }

  // Kills one node (SIGKILL: no clean shutdown).
  async killNode(name: string): Promise<void> {
    const node = this.nodes.find((n) => n.name === name)!;
    const child = node.process;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await this.killNode(node.name);
    await rm(this.dir, { recursive: true, force: true });
  }
}
