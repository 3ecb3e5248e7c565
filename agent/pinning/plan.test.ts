import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describePlan, planPinning } from './plan.ts';
import { formatCpuList, parseCpuList, readTopology, type CpuTopology } from './topology.ts';

const roots: string[] = [];

// A sysfs tree for a host with `nodes` NUMA nodes of `coresPerNode` cores, `smt` threads each (Linux numbering: siblings are N apart).
async function fakeSysfs(nodes: number, coresPerNode: number, smt: number, withNodeDir = true): Promise<string> {
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
    await writeFile(join(root, `devices/system/cpu/cpu${cpu}/topology/thread_siblings_list`), `${formatCpuList(siblings)}\n`);
  }
  if (withNodeDir) {
    for (let node = 0; node < nodes; node++) {
      const nodeCores = Array.from({ length: coresPerNode }, (_, i) => node * coresPerNode + i);
      const cpus = nodeCores.flatMap((core) => Array.from({ length: smt }, (_, t) => core + t * cores));
      await mkdir(join(root, `devices/system/node/node${node}`), { recursive: true });
      await writeFile(join(root, `devices/system/node/node${node}/cpulist`), `${formatCpuList(cpus)}\n`);
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
  assert.equal(topology.nodes, [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]]);
});

test('no node directory means one node with every CPU', async () => {
  const topology = await readTopology(await fakeSysfs(1, 2, 1, false));
  assert.equal(topology.nodes, [[0, 1]]);
  assert.equal(topology.cores, [[0], [1]]);
});

test('the controller gets whole cores on one node, never a housekeeping core, emulator on housekeeping', async () => {
  const topology = await readTopology(await fakeSysfs(2, 4, 2));
  const plans = planPinning(topology, [0], [{ name: 'controller', vcpus: 4 }, { name: 'app', vcpus: 2 }]);
  const controller = plans.get('controller')!;
  assert.equal(controller.vcpus.map((v) => v.cpu), [1, 9, 2, 10]);
  assert.equal(controller.emulator, [0]);
  assert.is(controller.degraded, undefined);
  // CPU 8 is CPU 0's sibling: it stays with housekeeping, so the next VM starts at core 3.
  assert.equal(plans.get('app')!.vcpus.map((v) => v.cpu), [3, 11]);
  assert.match(describePlan('controller', controller), 'controller: vCPU0→1 vCPU1→9 vCPU2→2 vCPU3→10, emulator→0');
});

test('an odd vCPU count keeps the spare SMT thread idle for the VM', async () => {
  const topology = await readTopology(await fakeSysfs(1, 4, 2));
  const plans = planPinning(topology, [0], [{ name: 'controller', vcpus: 1 }, { name: 'app', vcpus: 1 }]);
  assert.equal(plans.get('controller')!.vcpus.map((v) => v.cpu), [1]);
  assert.equal(plans.get('app')!.vcpus.map((v) => v.cpu), [2]);
});

test('a VM too big for one node spans nodes and says so', async () => {
  const topology = await readTopology(await fakeSysfs(2, 2, 1));
  const plan = planPinning(topology, [0], [{ name: 'controller', vcpus: 3 }]).get('controller')!;
  assert.equal(plan.vcpus.map((v) => v.cpu), [1, 2, 3]);
  assert.match(plan.degraded ?? '', 'spans NUMA nodes');
});

test('too few CPUs: the plan degrades and says why (a 2-CPU build machine, a 1-CPU VM host)', async () => {
  const two = await readTopology(await fakeSysfs(1, 2, 1));
  const plan = planPinning(two, [0], [{ name: 'controller', vcpus: 2 }]).get('controller')!;
  assert.equal(plan.vcpus.map((v) => v.cpu), [1, 1]);
  assert.match(plan.degraded ?? '', 'too few CPUs');
  const one = await readTopology(await fakeSysfs(1, 1, 1));
  const alone = planPinning(one, [0], [{ name: 'controller', vcpus: 1 }]).get('controller')!;
  assert.equal(alone.vcpus.map((v) => v.cpu), [0]);
  assert.match(alone.degraded ?? '', "housekeeping's included");
});

test('explicit pins are kept; pins on housekeeping or missing CPUs are reported', async () => {
  const topology: CpuTopology = { online: [0, 1, 2, 3], cores: [[0], [1], [2], [3]], nodes: [[0, 1, 2, 3]] };
  const plans = planPinning(topology, [0], [{ name: 'a', vcpus: 2, pin: [2, 3] }, { name: 'b', vcpus: 1, pin: [0] }, { name: 'c', vcpus: 1, pin: [9] }]);
  assert.equal(plans.get('a')!.vcpus.map((v) => v.cpu), [2, 3]);
  assert.is(plans.get('a')!.degraded, undefined);
  assert.match(plans.get('b')!.degraded ?? '', 'CPU 0 is also used by housekeeping');
  assert.match(plans.get('c')!.degraded ?? '', 'does not have');
});

test.run();
