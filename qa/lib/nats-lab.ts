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

// Where the nodes run: a network namespace and an address of it (default: this machine's loopback), and the PEM
// certificate and key they serve TLS to clients with.
export interface ClusterPlace {
  netns?: string;
  address?: string;
  tls?: { cert: string; key: string };
  // The nodes' client ports, in order (default: free ones).
  ports?: number[];
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
    private readonly where: ClusterPlace,
  ) {}

  // Client URLs of every node.
  get servers(): string[] {
    const scheme = this.where.tls ? 'tls' : 'nats';
    return this.nodes.map((n) => `${scheme}://${this.where.address ?? '127.0.0.1'}:${n.port}`);
  }

  // Starts `size` nodes with `authorization` (the fleet's block) and waits until each listens; `where` puts them in a
  // network namespace on an address of it, with TLS for clients.
  static async start(authorization: string, size = 3, where: ClusterPlace = {}): Promise<NatsCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'mvos-nats-'));
    const binary = unpackNatsServer(dir);
    await writeFile(join(dir, 'auth.conf'), authorization);
    const nodes: Node[] = [];
    for (let i = 1; i <= size; i++)
      nodes.push({
        name: `n${i}`,
        port: where.ports?.[i - 1] ?? (await freePort()),
        clusterPort: await freePort(),
        config: '',
        log: '',
      });
    for (const node of nodes) {
      await mkdir(join(dir, node.name), { recursive: true });
      node.config = join(dir, `${node.name}.conf`);
      const address = where.address ?? '127.0.0.1';
      const routes = nodes.filter((n) => n !== node).map((n) => `nats-route://${address}:${n.clusterPort}`);
      await writeFile(
        node.config,
        [
          `server_name: ${node.name}`,
          `listen: ${address}:${node.port}`,
          ...(where.tls
            ? [`tls { cert_file: ${JSON.stringify(where.tls.cert)}, key_file: ${JSON.stringify(where.tls.key)} }`]
            : []),
          `jetstream { store_dir: ${JSON.stringify(join(dir, node.name))}, max_memory_store: 64MB, max_file_store: 256MB }`,
          `cluster { name: mvos-test, listen: ${address}:${node.clusterPort}, routes: ${JSON.stringify(routes)} }`,
          'include ./auth.conf',
          '',
        ].join('\n'),
      );
    }
    const cluster = new NatsCluster(dir, binary, nodes, where);
    for (const node of nodes) await cluster.startNode(node.name);
    await cluster.jetStreamLed();
    return cluster;
  }

  // Starts (or starts again) one node and waits for its client port.
  async startNode(name: string): Promise<void> {
    const node = this.nodes.find((n) => n.name === name)!;
    node.log = '';
    const [command, args] = this.where.netns
      ? ['ip', ['netns', 'exec', this.where.netns, this.binary, '-c', node.config]]
      : [this.binary, ['-c', node.config]];
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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

  // Waits until every running node knows the JetStream meta leader: until then the cluster answers no JetStream API
  // request (a bucket or stream made at once would time out).
  async jetStreamLed(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    const running = this.nodes.filter((n) => n.process && n.process.exitCode === null);
    while (
      !running.every((n) => /JetStream cluster metadata leader|JetStream cluster new metadata leader/.test(n.log))
    ) {
      if (Date.now() > until)
        throw new Error(`no JetStream meta leader within ${timeoutMs} ms:\n${running.map((n) => n.log).join('\n')}`);
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
