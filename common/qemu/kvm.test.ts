import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { emulatedCpuModel, PROBE_EXIT_CODE, probeBootSector, probeKvm, runProbeGuest } from './kvm.ts';

test('the probe boot sector is 512 bytes with the 0x55AA signature', () => {
  const sector = probeBootSector();
  assert.is(sector.length, 512);
  assert.is(sector[510], 0x55);
  assert.is(sector[511], 0xaa);
});

test('under TCG the probe guest reaches long mode, finishes its loop and exits with the expected code', async () => {
  const run = await runProbeGuest('tcg', { timeoutMs: 30_000 });
  assert.is(run.timedOut, false, run.stderr);
  assert.is(run.exitCode, PROBE_EXIT_CODE, run.stderr);
});

test('probeKvm returns within its timeout plus 2 s with a verdict and a reason', async () => {
  const timeoutMs = 5000;
  const started = performance.now();
  const probe = await probeKvm({ timeoutMs });
  const ms = performance.now() - started;
  assert.ok(ms < timeoutMs + 2000, `took ${Math.round(ms)} ms`);
  assert.type(probe.usable, 'boolean');
  assert.ok(probe.reason.length > 0);
});

test('probeKvm without a KVM device says so at once', async () => {
  const probe = await probeKvm({ device: '/nonexistent/kvm' });
  assert.equal(probe, { usable: false, reason: '/nonexistent/kvm does not exist (no KVM on this host)' });
});

test('probeKvm reports a QEMU that cannot be started', async () => {
  const probe = await probeKvm({ device: '/dev/null', qemu: '/nonexistent/qemu-system-x86_64' });
  assert.is(probe.usable, false);
  assert.match(probe.reason, 'could not run /nonexistent/qemu-system-x86_64');
});

test('a machine whose CPU model QEMU emulates never uses nested KVM; a real CPU model is probed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-cpuinfo-'));
  const tcg = join(dir, 'tcg');
  const real = join(dir, 'real');
  await writeFile(tcg, 'processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n');
  await writeFile(real, 'processor\t: 0\nmodel name\t: AMD EPYC\n');
  assert.is(emulatedCpuModel(tcg), 'QEMU Virtual CPU version 2.5+');
  assert.is(emulatedCpuModel(real), undefined);
  const probe = await probeKvm({ cpuinfo: tcg, device: '/dev/null' });
  assert.equal(probe.usable, false);
  assert.match(probe.reason, /emulated CPU model \(QEMU Virtual CPU version 2\.5\+\)/);
});

test.run();
