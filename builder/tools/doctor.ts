// Host check: which required packages are present, what to install, and whether KVM is usable.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type KvmProbe, probeKvm } from '../../common/qemu/kvm.ts';
import {
  type Detection,
  describeDetection,
  REQUIREMENTS,
  type ToolGroup,
  type ToolRequirement,
} from './requirements.ts';
import { envPathDirs, whichCommand } from './which.ts';

// One package as found (or not) on this host.
export interface ToolStatus {
  package: string;
  purpose: string;
  group: ToolGroup;
  found: boolean;
  detail: string;
}

// Everything `mvos doctor` reports, as data.
export interface HostCheck {
  tools: ToolStatus[];
  missingPackages: string[];
  installCommand?: string;
  kvm: KvmProbe;
}

// Where and how to look; the defaults check the real host.
export interface CheckOptions {
  pathDirs?: string[];
  root?: string;
  isRoot?: boolean;
  requirements?: readonly ToolRequirement[];
  probe?: () => Promise<KvmProbe>;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

// The path where a detection succeeds (under root), or undefined.
async function locate(detection: Detection, root: string, pathDirs: readonly string[]): Promise<string | undefined> {
  if ('file' in detection) return (await isFile(join(root, detection.file))) ? detection.file : undefined;
  return whichCommand(detection.command, pathDirs, root);
}

async function checkTool(requirement: ToolRequirement, root: string, pathDirs: readonly string[]): Promise<ToolStatus> {
  const located = await Promise.all(requirement.detect.map((d) => locate(d, root, pathDirs)));
  const missing = requirement.detect.filter((_, i) => located[i] === undefined);
  const { package: name, purpose, group } = requirement;
  return {
    package: name,
    purpose,
    group,
    found: missing.length === 0,
    detail: (missing.length ? missing : requirement.detect).map(describeDetection).join(', '),
  };
}

// Which of the named packages (from requirements.ts) this host lacks, detected as `mvos doctor` does; sorted, each
// once.
export async function missingPackages(
  names: readonly string[],
  pathDirs: readonly string[] = envPathDirs(),
  root = '/',
): Promise<string[]> {
  const missing: string[] = [];
  for (const name of new Set(names)) {
    const requirement = REQUIREMENTS.find((r) => r.package === name);
    if (!requirement) throw new Error(`${name} is needed, but builder/tools/requirements.ts does not list it`);
    if (!(await checkTool(requirement, root, pathDirs)).found) missing.push(name);
  }
  return missing.sort();
}

// The shell line that installs the given packages (sorted), with sudo when not running as root.
export function installLine(packages: readonly string[], isRoot: boolean): string {
  return `${isRoot ? '' : 'sudo '}apt-get install -y --no-install-recommends ${[...packages].sort().join(' ')}`;
}

// The argvs `doctor --fix` runs in order: `apt-get update`, then the install of the sorted packages.
export function fixCommand(missing: readonly string[], isRoot: boolean): string[][] {
  // Update every time: fresh containers and chroots ship empty package lists, where `apt-get install` fails with
  // "Unable to locate package"; detecting stale lists is not worth the few seconds an update costs.
  // `sudo -n` fails at once instead of waiting for a password prompt nobody sees (tools run without a terminal).
  const sudo = isRoot ? [] : ['sudo', '-n'];
  return [
    [...sudo, 'apt-get', 'update'],
    [...sudo, 'apt-get', 'install', '-y', '--no-install-recommends', ...[...missing].sort()],
  ];
}

// Whether this process runs as root (apt-get needs it).
export function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

// Checks every required package under `root` (commands in `pathDirs` below root) and probes KVM on this host.
export async function checkHost(options: CheckOptions = {}): Promise<HostCheck> {
  const root = options.root ?? '/';
  const pathDirs = options.pathDirs ?? envPathDirs();
  const isRoot = options.isRoot ?? runningAsRoot();
  const [tools, kvm] = await Promise.all([
    Promise.all((options.requirements ?? REQUIREMENTS).map((r) => checkTool(r, root, pathDirs))),
    (options.probe ?? probeKvm)(),
  ]);
  const missingPackages = [...new Set(tools.filter((t) => !t.found).map((t) => t.package))].sort();
  return {
    tools,
    missingPackages,
    installCommand: missingPackages.length ? installLine(missingPackages, isRoot) : undefined,
    kvm,
  };
}
