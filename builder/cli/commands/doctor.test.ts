import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../../common/errors.ts';
import type { HostCheck } from '../../tools/doctor.ts';
import type { CommandContext } from '../command.ts';
import { type DoctorDeps, doctorCommand, makeDoctorCommand } from './doctor.ts';

const healthy: HostCheck = {
  tools: [{ package: 'xorriso', purpose: 'write hybrid ISO images', group: 'build', found: true, detail: 'xorriso' }],
  missingPackages: [],
  kvm: { usable: false, reason: 'KVM_RUN did not finish within 5 s (KVM hangs here)' },
};

const broken: HostCheck = {
  tools: [
    {
      package: 'qemu-system-x86',
      purpose: 'run the boot checks',
      group: 'qa',
      found: true,
      detail: 'qemu-system-x86_64',
    },
    {
      package: 'ovmf',
      purpose: 'UEFI firmware for the boot checks',
      group: 'qa',
      found: false,
      detail: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    },
    { package: 'cpio', purpose: 'inspect initramfs archives', group: 'build', found: false, detail: 'cpio' },
  ],
  missingPackages: ['cpio', 'ovmf'],
  installCommand: 'apt-get install -y --no-install-recommends cpio ovmf',
  kvm: { usable: true, reason: 'probe guest ran in 40 ms' },
};

function context(flags: CommandContext['flags'] = {}, json = false): CommandContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    flags,
    positionals: [],
    json,
    debug: false,
    color: false,
    out: (l) => lines.push(l),
    err: (l) => lines.push(`err: ${l}`),
    cwd: '/',
    lines,
  };
}

function deps(
  results: HostCheck[],
  overrides: Partial<DoctorDeps> = {},
): DoctorDeps & { ran: string[][]; roots: string[] } {
  const ran: string[][] = [];
  const roots: string[] = [];
  return {
    check: async (options) => {
      roots.push(options.root ?? '/');
      return results.length > 1 ? results.shift()! : results[0]!;
    },
    run: async (argv) => {
      ran.push(argv);
    },
    isRoot: () => true,
    hasSudo: async () => true,
    ran,
    roots,
    ...overrides,
  };
}

test('a healthy host prints a line per tool and the KVM line, exit 0', async () => {
  const ctx = context();
  const code = await makeDoctorCommand(deps([healthy])).run!(ctx);
  assert.is(code, 0);
  assert.equal(ctx.lines, [
    'ok      xorriso (xorriso)',
    'kvm: not usable — KVM_RUN did not finish within 5 s (KVM hangs here); QEMU will use TCG',
  ]);
});

test('missing packages are listed with the install line, exit 1', async () => {
  const ctx = context();
  const code = await makeDoctorCommand(deps([broken])).run!(ctx);
  assert.is(code, 1);
  assert.equal(ctx.lines, [
    'ok      qemu-system-x86 (qemu-system-x86_64)',
    'MISSING ovmf (/usr/share/OVMF/OVMF_CODE_4M.fd): UEFI firmware for the boot checks; needed for boot checks',
    'MISSING cpio (cpio): inspect initramfs archives; needed to build',
    'kvm: usable (probe guest ran in 40 ms)',
    'missing: cpio ovmf',
    'install them with:',
    '  apt-get install -y --no-install-recommends cpio ovmf',
    'or run `mvos doctor --fix`',
  ]);
});

test('--json prints the result object and keeps the exit code', async () => {
  const ctx = context({}, true);
  const code = await makeDoctorCommand(deps([broken])).run!(ctx);
  assert.is(code, 1);
  assert.equal(JSON.parse(ctx.lines.join('\n')), broken);
});

test('--root is passed to the check', async () => {
  const d = deps([healthy]);
  await makeDoctorCommand(d).run!(context({ root: '/srv/chroot' }));
  assert.equal(d.roots, ['/srv/chroot']);
});

test('--fix runs apt-get update and install, then checks again', async () => {
  const d = deps([broken, healthy]);
  const ctx = context({ fix: true });
  const code = await makeDoctorCommand(d).run!(ctx);
  assert.is(code, 0);
  assert.equal(d.ran, [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', '--no-install-recommends', 'cpio', 'ovmf'],
  ]);
  assert.equal(d.roots, ['/', '/']);
  assert.is(ctx.lines[0], 'running: apt-get update');
});

test('--fix goes through sudo when not root', async () => {
  const d = deps([broken, healthy], { isRoot: () => false });
  await makeDoctorCommand(d).run!(context({ fix: true }));
  assert.equal(d.ran[0], ['sudo', '-n', 'apt-get', 'update']);
});

test('--fix without root and without sudo is a user error with a hint', async () => {
  const d = deps([broken], { isRoot: () => false, hasSudo: async () => false });
  try {
    await makeDoctorCommand(d).run!(context({ fix: true }));
    assert.unreachable('should throw');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as UserError).hint ?? '', 'as root');
    assert.equal(d.ran, []);
  }
});

test('--fix with --root is a user error (apt-get installs into this host)', async () => {
  const d = deps([broken]);
  try {
    await makeDoctorCommand(d).run!(context({ fix: true, root: '/srv/chroot' }));
    assert.unreachable('should throw');
  } catch (error) {
    assert.instance(error, UserError);
    assert.equal(d.ran, []);
  }
});

test('--fix with nothing missing installs nothing', async () => {
  const d = deps([healthy]);
  assert.is(await makeDoctorCommand(d).run!(context({ fix: true })), 0);
  assert.equal(d.ran, []);
});

test('the real doctor verb on this machine finds every package (KVM probe included)', async () => {
  const ctx = context({}, true);
  const started = performance.now();
  const code = await doctorCommand.run!(ctx);
  const result = JSON.parse(ctx.lines.join('\n')) as HostCheck;
  assert.equal(result.missingPackages, []);
  assert.is(code, 0);
  assert.type(result.kvm.usable, 'boolean');
  assert.ok(performance.now() - started < 7000);
});

test.run();
