// `mvos doctor [--fix] [--root DIR]`: which host packages are missing, how to install them, and whether KVM works.
import { join, relative } from 'node:path';
import { FailureError, UserError } from '../../../common/errors.ts';
import { runTool } from '../../../common/exec.ts';
import { readLockfile } from '../../inputs/lockfile.ts';
import { type CheckOptions, checkHost, fixCommand, type HostCheck, runningAsRoot } from '../../tools/doctor.ts';
import { suiteReport } from '../../tools/suite-report.ts';
import { whichCommand } from '../../tools/which.ts';
import type { Command, CommandContext } from '../command.ts';

// What the doctor verb needs from the outside world; tests replace it.
export interface DoctorDeps {
  check: (options: CheckOptions) => Promise<HostCheck>;
  run: (argv: string[]) => Promise<void>;
  isRoot: () => boolean;
  hasSudo: () => Promise<boolean>;
}

// apt-get can take long on a slow mirror; it still must not hang forever.
const APT_TIMEOUT_MS = 30 * 60 * 1000;

const realDeps: DoctorDeps = {
  check: checkHost,
  run: async ([file, ...args]) => {
    try {
      await runTool(file!, args, { timeoutMs: APT_TIMEOUT_MS, env: { DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (error) {
      if (file !== 'sudo' || !(error instanceof FailureError)) throw error;
      throw new FailureError(error.message, {
        cause: error,
        hint: 'sudo could not run without a password prompt: run `sudo ./mvos doctor --fix`',
      });
    }
  },
  isRoot: runningAsRoot,
  hasSudo: async () => (await whichCommand('sudo')) !== undefined,
};

function paint(text: string, code: number, color: boolean): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

// The suite lines for the default recipe's lockfile, when this is a checkout that has one.
function defaultSuiteReport(cwd: string): string[] {
  const path = join(cwd, 'recipes', 'host.lock.json');
  try {
    const lock = readLockfile(path);
    return lock ? suiteReport(lock, relative(cwd, path)) : [];
  } catch {
    return [];
  }
}

// The human-readable report: a line per package, the KVM line, and what to install.
export function renderReport(result: HostCheck, color: boolean): string[] {
  const lines = result.tools.map((t) =>
    t.found
      ? `${paint('ok', 32, color)}      ${t.package} (${t.detail})`
      : `${paint('MISSING', 31, color)} ${t.package} (${t.detail}): ${t.purpose}; needed ${t.group === 'qa' ? 'for boot checks' : 'to build'}`,
  );
  lines.push(
    result.kvm.usable
      ? `kvm: usable (${result.kvm.reason})`
      : `kvm: not usable — ${result.kvm.reason}; QEMU will use TCG`,
  );
  if (result.missingPackages.length > 0) {
    lines.push(
      `missing: ${result.missingPackages.join(' ')}`,
      'install them with:',
      `  ${result.installCommand}`,
      'or run `mvos doctor --fix`',
    );
  }
  return lines;
}

// The doctor verb with its outside world injected.
export function makeDoctorCommand(deps: DoctorDeps = realDeps): Command {
  async function run(ctx: CommandContext): Promise<number> {
    const root = typeof ctx.flags.root === 'string' ? ctx.flags.root : '/';
    let result = await deps.check({ root });
    if (ctx.flags.fix === true && result.missingPackages.length > 0) {
      if (root !== '/')
        throw new UserError('--fix installs into this host and cannot be combined with --root', {
          hint: 'drop --root, or install into that tree with its own apt-get',
        });
      const isRoot = deps.isRoot();
      if (!isRoot && !(await deps.hasSudo())) {
        throw new UserError('--fix needs root to run apt-get, and sudo is not installed', {
          hint: `run \`mvos doctor --fix\` as root, or install by hand as root: ${fixCommand(
            result.missingPackages,
            true,
          )
            .map((a) => a.join(' '))
            .join(' && ')}`,
        });
      }
      for (const argv of fixCommand(result.missingPackages, isRoot)) {
        if (!ctx.json) ctx.out(`running: ${argv.join(' ')}`);
        await deps.run(argv);
      }
      result = await deps.check({ root });
    }
    if (ctx.json) ctx.out(JSON.stringify(result, null, 2));
    else {
      for (const line of renderReport(result, ctx.color)) ctx.out(line);
      for (const line of defaultSuiteReport(ctx.cwd)) ctx.out(line);
    }
    return result.missingPackages.length > 0 ? 1 : 0;
  }
  return {
    name: 'doctor',
    summary: 'check that the host has the tools mvos needs and whether KVM works',
    usage: 'mvos doctor [--fix] [--root DIR] [--json]',
    description:
      'Checks every Debian package the builder (build) and the QEMU boot checks (qa) need, and probes KVM by ' +
      'booting a tiny guest with a 5 s limit (QEMU falls back to TCG when it does not finish), then names what the ' +
      'default image takes from its Debian suite instead of this machine. Exit code 0 when ' +
      'nothing is missing, 1 when a package is missing.',
    flags: {
      fix: { type: 'boolean' },
      root: { type: 'string' },
    },
    flagHelp: {
      fix: 'install missing packages with apt-get (as root, or through sudo), then check again',
      root: 'check files under DIR instead of / (e.g. a chroot)',
    },
    json: true,
    run,
  };
}

// The doctor verb.
export const doctorCommand: Command = makeDoctorCommand();
