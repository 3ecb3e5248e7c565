import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qemuArgv } from '../../common/qemu/argv.ts';
import { memoryBackend } from '../launch/vm.ts';
import { describePlan, planPinning } from './plan.ts';
import { type CpuTopology, formatCpuList, parseCpuList, readTopology } from './topology.ts';

const roots: string[] = [];

// A sysfs tree for a host with `nodes` NUMA nodes of `coresPerNode` cores, `smt` threads each (Linux numbering:
// siblings are N apart).
async function fakeSysfs(
  nodes: number,
  coresPerNode: number,
  smt: number,
  withNodeDir = true,
  freeHugepages: number[] = [],
): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'mvos-sysfs-'));
  roots.push(root);
  const cores = nodes * coresPerNode;
  const total = cores * smt;
  await mkdir(join(root, 'devices/system/cpu'), { recursive: true });
  await writeFile(join(root, 'devices/system/cpu/online'), `0-${total - 1}\n`);
  for (let cpu = 0; cpu < total; cpu++) {
    const core = cpu % cores;
    const siblings = Array.from({ length: smt }, (_, t) => core + t * cores);
    await mkdir(join(root, `devices/system/cpu/cpu${cpu}/topology`), { recursive: true });
    await writeFile(
      join(root, `devices/system/cpu/cpu${cpu}/topology/thread_siblings_list`),
      `${formatCpuList(siblings)}\n`,
    );
  }
  if (withNodeDir) {
    for (let node = 0; node < nodes; node++) {
      const nodeCores = Array.from({ length: coresPerNode }, (_, i) => node * coresPerNode + i);
      const cpus = nodeCores.flatMap((core) => Array.from({ length: smt }, (_, t) => core + t * cores));
      await mkdir(join(root, `devices/system/node/node${node}`), { recursive: true });
      await writeFile(join(root, `devices/system/node/node${node}/cpulist`), `${formatCpuList(cpus)}\n`);
      const huge = join(root, `devices/system/node/node${node}/hugepages/hugepages-2048kB`);
      await mkdir(huge, { recursive: true });
      await writeFile(join(huge, 'free_hugepages'), `${freeHugepages[node] ?? 0}\n`);
    }
  }
  return root;
}

test.after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

test('CPU lists parse and print in the kernel format', () => {
  assert.equal(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.is(formatCpuList([11, 0, 1, 2, 3, 8, 10]), '0-3,8,10-11');
  assert.is(formatCpuList([5]), '5');
});

test('sysfs topology: SMT siblings form one core, NUMA nodes from node*/cpulist', async () => {
  const topology = await readTopology(await fakeSysfs(2, 4, 2));
  assert.is(topology.online.length, 16);
  assert.equal(topology.cores[0], [0, 8]);
  assert.is(topology.cores.length, 8);
  assert.equal(topology.nodes, [
    [0, 1, 2, 3, 8, 9, 10, 11],
    [4, 5, 6, 7, 12, 13, 14, 15],
  ]);
});

test('no node directory means one node with every CPU', async () => {
  const topology = await readTopology(await fakeSysfs(1, 2, 1, false));
  assert.equal(topology.nodes, [[0, 1]]);
  assert.equal(topology.cores, [[0], [1]]);
});

test('the controller gets whole cores on one node, never a housekeeping core, emulator on housekeeping', async () => {
  const topology = await readTopology(await fakeSysfs(2, 4, 2));
  const plans = planPinning(
    topology,
    [0],
    [
      { name: 'controller', vcpus: 4 },
      { name: 'app', vcpus: 2 },
    ],
  );
  const controller = plans.get('controller')!;
  assert.equal(
    controller.vcpus.map((v) => v.cpu),
    [1, 9, 2, 10],
  );
  assert.equal(controller.emulator, [0]);
  assert.is(controller.degraded, undefined);
  // CPU 8 is CPU 0's sibling: it stays with housekeeping, so the next VM starts at core 3.
  assert.equal(
    plans.get('app')!.vcpus.map((v) => v.cpu),
    [3, 11],
  );
  assert.match(describePlan('controller', controller), 'controller: vCPU0→1 vCPU1→9 vCPU2→2 vCPU3→10, emulator→0');
});

test('an odd vCPU count keeps the spare SMT thread idle for the VM', async () => {
  const topology = await readTopology(await fakeSysfs(1, 4, 2));
  const plans = planPinning(
    topology,
    [0],
    [
      { name: 'controller', vcpus: 1 },
      { name: 'app', vcpus: 1 },
    ],
  );
  assert.equal(
    plans.get('controller')!.vcpus.map((v) => v.cpu),
    [1],
  );
  assert.equal(
    plans.get('app')!.vcpus.map((v) => v.cpu),
    [2],
  );
});

test('a VM too big for one node spans nodes and says so', async () => {
  const topology = await readTopology(await fakeSysfs(2, 2, 1));
  const plan = planPinning(topology, [0], [{ name: 'controller', vcpus: 3 }]).get('controller')!;
  assert.equal(
    plan.vcpus.map((v) => v.cpu),
    [1, 2, 3],
  );
  assert.match(plan.degraded ?? '', 'spans NUMA nodes');
});

test('too few CPUs: the plan degrades and says why (a 2-CPU build machine, a 1-CPU VM host)', async () => {
  const two = await readTopology(await fakeSysfs(1, 2, 1));
  const plan = planPinning(two, [0], [{ name: 'controller', vcpus: 2 }]).get('controller')!;
  assert.equal(
    plan.vcpus.map((v) => v.cpu),
    [1, 1],
  );
  assert.match(plan.degraded ?? '', 'too few CPUs');
  const one = await readTopology(await fakeSysfs(1, 1, 1));
  const alone = planPinning(one, [0], [{ name: 'controller', vcpus: 1 }]).get('controller')!;
  assert.equal(
    alone.vcpus.map((v) => v.cpu),
    [0],
  );
  assert.match(alone.degraded ?? '', "housekeeping's included");
});

test('explicit pins are kept; pins on housekeeping or missing CPUs are reported', async () => {
  const topology: CpuTopology = {
    online: [0, 1, 2, 3],
    cores: [[0], [1], [2], [3]],
    nodes: [[0, 1, 2, 3]],
    nodeIds: [0],
    hugepagesFree: [0],
  };
  const plans = planPinning(
    topology,
    [0],
    [
      { name: 'a', vcpus: 2, pin: [2, 3] },
      { name: 'b', vcpus: 1, pin: [0] },
      { name: 'c', vcpus: 1, pin: [9] },
    ],
  );
  assert.equal(
    plans.get('a')!.vcpus.map((v) => v.cpu),
    [2, 3],
  );
  assert.is(plans.get('a')!.degraded, undefined);
  assert.match(plans.get('b')!.degraded ?? '', 'CPU 0 is also used by housekeeping');
  assert.match(plans.get('c')!.degraded ?? '', 'does not have');
});

test("two NUMA nodes: the controller's memory is bound to the node of its CPUs, and QEMU gets that backend", async () => {
  // Housekeeping takes CPU 0 (node 0), so the 4-vCPU controller fits only on node 1's four cores.
  const topology = await readTopology(await fakeSysfs(2, 4, 1));
  assert.equal(topology.nodeIds, [0, 1]);
  const plan = planPinning(topology, [0], [{ name: 'controller', vcpus: 4, memoryMiB: 1024, hugepages: 'auto' }]).get(
    'controller',
  )!;
  assert.equal(
    plan.vcpus.map((v) => v.cpu),
    [4, 5, 6, 7],
  );
  assert.equal(plan.memory, {
    policy: 'bind',
    node: 1,
    hugepages: false,
    note: "bound to NUMA node 1 (its vCPUs' node); normal pages (0 free hugepages, 512 needed)",
  });
  assert.match(describePlan('controller', plan), /memory bound to NUMA node 1/);
  assert.equal(memoryBackend(plan.memory), { memoryBackend: { hostNode: 1, hugepages: false } });
  const argv = qemuArgv({
    machine: 'q35',
    accel: 'tcg',
    cpus: 4,
    memoryMiB: 1024,
    serial: 'stdio',
    ...memoryBackend(plan.memory),
  });
  assert.ok(argv.includes('q35,memory-backend=mvos-ram'), argv.join(' '));
  assert.ok(argv.includes('memory-backend-ram,id=mvos-ram,size=1024M,host-nodes=1,policy=bind'), argv.join(' '));
});

test('hugepages: auto takes them when the node has enough free, on insists and warns, off never', async () => {
  const topology = await readTopology(await fakeSysfs(2, 2, 1, true, [0, 600]));
  const plan = (hugepages: 'auto' | 'on' | 'off', memoryMiB = 1024) =>
    planPinning(topology, [0], [{ name: 'vm', vcpus: 1, memoryMiB, hugepages }]).get('vm')!.memory!;
  // CPU 1 is the free core on node 0 (CPU 0 is housekeeping): node 0 has no free hugepages.
  assert.is(plan('auto').hugepages, false);
  const big = planPinning(topology, [0], [{ name: 'vm', vcpus: 2, memoryMiB: 1024, hugepages: 'auto' }]).get('vm')!
    .memory!;
  assert.equal([big.node, big.hugepages], [1, true], 'two vCPUs fit only on node 1, which has 600 free');
  assert.match(big.note, /512 hugepages of 2 MiB/);
  const insisted = plan('on');
  assert.is(insisted.hugepages, true);
  assert.match(insisted.note, /only 0 of 512 hugepages are free/);
  assert.is(plan('off').hugepages, false);
  const argv = qemuArgv({
    machine: 'microvm',
    accel: 'tcg',
    cpus: 2,
    memoryMiB: 1024,
    serial: 'stdio',
    ...memoryBackend(big),
  });
  assert.ok(
    argv.includes(
      'memory-backend-memfd,id=mvos-ram,size=1024M,hugetlb=on,hugetlbsize=2M,prealloc=on,host-nodes=1,policy=bind',
    ),
    argv.join(' '),
  );
});

test('one NUMA node: the plan says memory is not bound, and QEMU gets no backend', async () => {
  const topology = await readTopology(await fakeSysfs(1, 4, 1));
  const plan = planPinning(topology, [0], [{ name: 'controller', vcpus: 2, memoryMiB: 512 }]).get('controller')!;
  assert.equal(plan.memory, {
    policy: 'default',
    hugepages: false,
    note: 'one NUMA node: memory not bound; normal pages (0 free hugepages, 256 needed)',
  });
  assert.equal(memoryBackend(plan.memory), {});
});

test("this machine's own sysfs reads, and the plan says what it found", async () => {
  const topology = await readTopology();
  assert.is(topology.nodeIds.length, topology.nodes.length);
  const plan = planPinning(topology, [0], [{ name: 'controller', vcpus: 1, memoryMiB: 512 }]).get('controller')!;
  assert.ok(plan.memory?.note, 'a memory note');
  if (topology.nodes.length === 1) assert.match(plan.memory.note, /^one NUMA node: memory not bound/);
});

test("QEMU accepts the bound memory backend on this machine's node 0", async () => {
  const argv = qemuArgv({
    machine: 'microvm',
    accel: 'tcg',
    cpus: 1,
    memoryMiB: 64,
    serial: 'stdio',
    memoryBackend: { hostNode: 0, hugepages: false },
  });
  const qemu = spawn('qemu-system-x86_64', [...argv.filter((a) => a !== 'stdio' && a !== '-serial'), '-S'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  qemu.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 1500);
    qemu.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  qemu.kill('SIGKILL');
  assert.is(exited, null, `QEMU refused the backend: ${stderr}`);
});

test.run();
