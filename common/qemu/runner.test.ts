import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stubKernel } from '../../qa/lib/stub-kernel.ts';
import { FailureError, UserError } from '../errors.ts';
import { type QemuSpec, qemuArgv } from './argv.ts';
import { chooseAccel, QemuRun } from './runner.ts';

const dir = await mkdtemp(join(tmpdir(), 'mvos-runner-test-'));
const halting = join(dir, 'halt.bin');
const poweroff = join(dir, 'poweroff.bin');
const silent = join(dir, 'silent.bin');
await writeFile(halting, stubKernel({ marker: 'STUB-READY', after: 'halt' }));
await writeFile(poweroff, stubKernel({ marker: 'STUB-READY', after: 'poweroff' }));
await writeFile(silent, stubKernel({ after: 'halt' }));

function spec(kernel: string, append = 'hello from the test'): QemuSpec {
  return { machine: 'q35', accel: 'tcg', cpus: 1, memoryMiB: 64, kernel, append, serial: 'stdio', noReboot: true };
}

test('waitFor resolves with the ms to the marker; the log file and memory hold the console; stop() ends QEMU', async () => {
  const log = join(dir, 'halt', 'serial.log');
  const echoed: Buffer[] = [];
  const run = await QemuRun.start({ argv: qemuArgv(spec(halting)), log, echo: (chunk) => echoed.push(chunk) });
  try {
    const ms = await run.waitFor('STUB-READY', 30_000);
    assert.ok(ms > 0 && ms < 30_000, `ms ${ms}`);
    assert.ok(
      (await run.waitFor(/^cmdline: .* hello from the test$/, 1000)) <= ms,
      'an earlier line reports its own time',
    );
    assert.is(run.exitStatus, undefined, 'a halted guest keeps QEMU running');
  } finally {
    const exit = await run.stop();
    assert.ok(exit.code !== null || exit.signal !== null);
  }
  // The newline after the marker may still be in flight when stop() ends QEMU: a marker counts without it.
  assert.ok((await readFile(log, 'utf8')).includes('cmdline: '));
  assert.ok((await readFile(log, 'utf8')).includes('STUB-READY'));
  assert.ok(Buffer.concat(echoed).toString().includes('STUB-READY'));
  assert.ok(run.output.includes('cmdline: '));
  assert.equal(run.tail(1), ['STUB-READY']);
});

test('a marker that never comes rejects at the timeout with the console tail and the log path', async () => {
  const log = join(dir, 'timeout.log');
  const run = await QemuRun.start({ argv: qemuArgv(spec(silent, 'quiet')), log });
  try {
    const error = await run.waitFor('NEVER-PRINTED', 1500).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(error, FailureError);
    const message = (error as Error).message;
    assert.match(message, 'did not see "NEVER-PRINTED" on the console within 1.5 s');
    assert.match(message, /\| cmdline: .* quiet/);
    assert.match(message, `full serial log: ${log}`);
  } finally {
    await run.stop();
  }
});

test('a guest that powers off before the marker rejects at once, not at the timeout', async () => {
  const run = await QemuRun.start({ argv: qemuArgv(spec(poweroff)), log: join(dir, 'early.log') });
  const started = performance.now();
  const error = await run.waitFor('NEVER-PRINTED', 60_000).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(performance.now() - started < 30_000);
  assert.instance(error, FailureError);
  assert.match((error as Error).message, 'QEMU exited with code 0 before "NEVER-PRINTED" appeared on the console');
  assert.equal(await run.exited, { code: 0, signal: null });
});

test('QEMU refusing its arguments shows what QEMU said', async () => {
  const run = await QemuRun.start({
    argv: qemuArgv({ ...spec('/nonexistent/vmlinuz') }),
    log: join(dir, 'refused.log'),
  });
  const error = await run.waitFor('X', 30_000).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, FailureError);
  assert.match((error as Error).message, /QEMU said:\n.*\/nonexistent\/vmlinuz/);
  assert.is((await run.exited).code, 1);
});

test('a QEMU that cannot be started is reported, not hung on', async () => {
  const run = await QemuRun.start({ argv: [], qemu: '/nonexistent/qemu', log: join(dir, 'missing.log') });
  const error = await run.waitFor('X', 30_000).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, FailureError);
  assert.match((error as Error).message, /ENOENT|not found|could not start/);
});

test('QEMU accepts the argv of firmware, drive and channel specs', async () => {
  const disk = join(dir, 'disk.img');
  await writeFile(disk, Buffer.alloc(1 << 20));
  const vars = join(dir, 'vars.fd');
  await copyFile('/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd', vars);
  const specs: QemuSpec[] = [
    {
      ...spec(halting),
      kernel: undefined,
      append: undefined,
      firmware: { type: 'ovmf-secureboot', code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars },
      drives: [
        { file: disk, format: 'raw', interface: 'cdrom', bootIndex: 0 },
        { file: disk, format: 'raw', interface: 'virtio', snapshot: true },
        { file: disk, format: 'raw', interface: 'usb', readonly: true },
        { file: disk, format: 'raw', interface: 'ide', snapshot: true },
      ],
      qmp: join(dir, 'qmp.sock'),
      healthChannel: join(dir, 'health.sock'),
    },
    {
      ...spec(halting),
      machine: 'pc',
      drives: [0, 1, 2, 3].map(
        (n) => ({ file: disk, format: 'raw', interface: n === 2 ? 'cdrom' : 'ide', snapshot: true }) as const,
      ),
    },
    {
      ...spec(halting),
      machine: 'pc',
      firmware: { type: 'seabios', code: '/usr/share/seabios/bios.bin' },
      serial: { socket: join(dir, 'serial.sock') },
    },
    {
      ...spec(halting),
      machine: 'microvm',
      kernel: undefined,
      append: undefined,
      drives: [{ file: disk, format: 'raw', interface: 'virtio', snapshot: true }],
      healthChannel: join(dir, 'mhealth.sock'),
    },
  ];
  for (const [index, s] of specs.entries()) {
    // -S: QEMU sets everything up and waits paused; still running after a moment means it took every argument.
    const run = await QemuRun.start({ argv: [...qemuArgv(s), '-S'], log: join(dir, `accept-${index}.log`) });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const status = run.exitStatus;
    await run.stop();
    assert.is(status, undefined, `spec ${index} was refused: ${run.failure('refused').message}`);
  }
});

test('chooseAccel: tcg skips the probe, auto falls back with a warning, kvm insists', async () => {
  let probed = 0;
  const broken = async () => {
    probed++;
    return { usable: false, reason: 'KVM_RUN hangs' };
  };
  const working = async () => {
    probed++;
    return { usable: true, reason: 'fine' };
  };
  assert.equal(await chooseAccel('tcg', { probe: broken }), { accel: 'tcg', reason: 'TCG was asked for' });
  assert.is(probed, 0);
  const fallback = await chooseAccel('auto', { probe: broken });
  assert.is(fallback.accel, 'tcg');
  assert.match(fallback.warning ?? '', 'KVM is not usable (KVM_RUN hangs); using TCG');
  assert.equal(await chooseAccel('auto', { probe: working }), { accel: 'kvm', reason: 'fine' });
  const error = await chooseAccel('kvm', { probe: broken }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, UserError);
  assert.match((error as Error).message, 'KVM was asked for but is not usable: KVM_RUN hangs');
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
