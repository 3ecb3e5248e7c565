// The A/B update scenarios' lab: three builds of the host of qa/cases/026-updates (0.1.0; 0.2.0; 0.3.0, whose agent
// never starts), their bundles signed with a key folder made for the run (and one signed with another key), the disks
// (a state partition, a disk of bundles, a medium labelled MVOS-UPDATE), and a host machine in QEMU that reboots in
// place and has a person at its serial console.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { type QemuFirmware, qemuArgv } from '../../common/qemu/argv.ts';
import { bootFirmware } from '../../common/qemu/media.ts';
import { QemuRun } from '../../common/qemu/runner.ts';
import { ARTIFACTS } from './boot.ts';
import { buildHostImage, type HostImage, repoRoot } from './host-image.ts';

// The test recipe every version extends.
export const UPDATE_RECIPE = join(repoRoot, 'qa/cases/026-updates/host-update.yaml');
// The host's name in every version.
export const UPDATE_HOST = 'multiverse-host';

// The builds and bundles of one run.
export interface UpdateImages {
  env: Record<string, string>;
  keyDir: string;
  images: Record<'v1' | 'v2' | 'v3', HostImage>;
  // v1, v2 and v3 signed with the run's key; forged is v2 signed with another key.
  bundles: Record<'v1' | 'v2' | 'v3' | 'forged', string>;
}

// Runs ./mvos with `env` added; throws with its output when it fails.
export function mvos(args: string[], env: Record<string, string>): string {
  const run = spawnSync(join(repoRoot, 'mvos'), args, {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1', ...env },
    encoding: 'utf8',
    timeout: 45 * 60_000,
  });
  if (run.status !== 0) throw new Error(`mvos ${args.join(' ')} failed (${run.status}):\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

// The kernel command line of the test recipe, plus `extra`.
function cmdline(extra: string[]): string {
  return ['console=tty0', 'console=ttyS0,115200', 'panic=10', 'intel_iommu=on', 'iommu=pt', 'mvos.shell=1', ...extra]
    .map((arg) => `    - ${arg}\n`)
    .join('');
}

// Makes the key folder, builds the three versions and writes the bundles, all under `dir`; a failure is printed too
// (uvu reports a failed hook only as tests that did not pass).
export function buildUpdateImages(dir: string): UpdateImages {
  try {
    return buildAll(dir);
  } catch (error) {
    console.error(error);
    throw error;
  }
}

function buildAll(dir: string): UpdateImages {
  const env = { XDG_CONFIG_HOME: join(dir, 'config') };
  const keyDir = join(dir, 'config', 'mvos', 'keys');
  mvos(['keys', 'init'], env);
  const otherKeys = join(dir, 'other-keys');
  mvos(['keys', 'init', '--dir', otherKeys], env);
  const recipes = {
    v1: UPDATE_RECIPE,
    v2: join(dir, 'v2.yaml'),
    // Its agent refuses its arguments and never starts; its gate's deadline is the shortest a recipe may set.
    v3: join(dir, 'v3.yaml'),
  };
  writeFileSync(recipes.v2, `extends: ${UPDATE_RECIPE}\nname: ${UPDATE_HOST}\nversion: 0.2.0\n`);
  writeFileSync(
    recipes.v3,
    `extends: ${UPDATE_RECIPE}\nname: ${UPDATE_HOST}\nversion: 0.3.0\nkernel:\n  cmdline:\n${cmdline(['mvos.agent.args=--no-such-flag'])}update:\n  key: key-folder\n  deadline: 30\n`,
  );
  const images = {} as UpdateImages['images'];
  const bundles = {} as UpdateImages['bundles'];
  for (const version of ['v1', 'v2', 'v3'] as const) {
    if (version !== 'v1') mvos(['lock', recipes[version]], env);
    const recipe = version === 'v1' ? 'qa/cases/026-updates/host-update.yaml' : recipes[version];
    images[version] = buildHostImage(recipe, { env, output: join(dir, version) });
    bundles[version] = join(dir, `${version}.mvu`);
    mvos(['update', 'bundle', images[version].dir, '--out', bundles[version]], env);
  }
  bundles.forged = join(dir, 'forged.mvu');
  mvos(['update', 'bundle', images.v2.dir, '--key-dir', otherKeys, '--out', bundles.forged], env);
  return { env, keyDir, images, bundles };
}

// What an update scenario's hooks share: its folder, the builds (made before its tests) and the machine its tests run
// (stopped after them).
export interface UpdateScenario {
  dir: string;
  lab: UpdateImages;
  host?: ConsoleHost;
}

// Registers the scenario's before and after hooks on uvu's `test` and returns what they fill in.
export function updateScenario(
  test: { before: (hook: () => void) => void; after: (hook: () => Promise<void>) => void },
  name: string,
): UpdateScenario {
  const scenario = { dir: mkdtempSync(join(tmpdir(), `mvos-qa-${name}-`)) } as UpdateScenario;
  test.before(() => {
    scenario.lab = buildUpdateImages(scenario.dir);
  });
  test.after(async () => {
    await scenario.host?.stop();
    rmSync(scenario.dir, { recursive: true, force: true });
  });
  return scenario;
}

// A sparse ext4 file system labelled as the host's state partition.
export async function stateDisk(file: string): Promise<void> {
  await runTool('truncate', ['-s', '2G', file]);
  await runTool('mkfs.ext4', ['-q', '-F', '-L', 'MVOS-STATE', file]);
}

// A FAT disk holding `files` (name → path) at its top, labelled `label` (MVOS-UPDATE makes it an update medium).
export async function filesDisk(file: string, label: string, files: Record<string, string>): Promise<void> {
  await runTool('truncate', ['-s', '256M', file]);
  await runTool('mkfs.vfat', ['-n', label, file]);
  for (const [name, path] of Object.entries(files))
    await runTool('mcopy', ['-i', file, path, `::/${name}`], { env: { MTOOLS_SKIP_CHECK: '1' } });
}

// A fresh copy of a version's raw disk (images/<host>/<host>.raw).
export function rawCopy(image: HostImage, file: string): void {
  copyFileSync(join(image.dir, `${basename(image.dir)}.raw`), file);
}

// The disks of a machine under `dir`: its raw disk, its state partition and a disk of files (/dev/vdb).
export function machineDisks(dir: string): { disk: string; state: string; files: string } {
  return { disk: join(dir, 'disk.raw'), state: join(dir, 'state.img'), files: join(dir, 'files.img') };
}

// A machine on fresh disks: a copy of `image`'s raw disk, an empty state partition, and a FAT disk holding `files`
// labelled `label`; `machine` as ConsoleHost.start takes it.
export async function freshMachine(
  name: string,
  image: HostImage,
  dir: string,
  label: string,
  files: Record<string, string>,
  machine: MachineOptions = {},
): Promise<ConsoleHost> {
  const disks = machineDisks(dir);
  rawCopy(image, disks.disk);
  await stateDisk(disks.state);
  await filesDisk(disks.files, label, files);
  return ConsoleHost.start(name, disks.disk, disks.state, [disks.files], machine);
}

// A machine's firmware (UEFI with its own writable variables; SeaBIOS when absent) and more QEMU arguments (devices).
export interface MachineOptions {
  firmware?: QemuFirmware;
  args?: string[];
}

// What the agent says when a version on trial passed its gate.
export function gatePassed(version: string, slot: string): string {
  return `update: ${version} in slot ${slot} passed its health gate and is kept`;
}

// The marker of an agent that is up, and its version.
export function agentReady(version: string): RegExp {
  return new RegExp(`MVOS-AGENT-READY ${UPDATE_HOST} ${version.replaceAll('.', '\\.')} accel=`);
}

// A host machine: SeaBIOS (or the given UEFI firmware), the raw disk (SATA) it boots from, the state disk and any other
// disks (virtio, in order: /dev/vda is the state, then /dev/vdb…); it reboots in place, and its serial console takes
// typed commands.
export class ConsoleHost {
  private commands = 0;

  private constructor(readonly run: QemuRun) {}

  // `firmware`: UEFI with its own writable variables; the disk then gets no bootindex, since OVMF rewrites BootOrder
  // from QEMU's boot order at every boot and the host's own BootOrder would not count. `args`: more QEMU arguments
  // (devices).
  static async start(
    name: string,
    disk: string,
    state: string,
    extra: string[] = [],
    machine: MachineOptions = {},
  ): Promise<ConsoleHost> {
    const { firmware, args = [] } = machine;
    mkdirSync(ARTIFACTS, { recursive: true });
    const argv = qemuArgv({
      machine: 'q35',
      accel: 'tcg',
      cpus: 2,
      memoryMiB: 2048,
      serial: 'stdio',
      firmware: firmware ?? bootFirmware('bios', join(ARTIFACTS, `${name}-vars.fd`)),
      drives: [
        { file: disk, format: 'raw', interface: 'ide', ...(firmware ? {} : { bootIndex: 0 }) },
        { file: state, format: 'raw', interface: 'virtio' },
        ...extra.map((file) => ({ file, format: 'raw' as const, interface: 'virtio' as const })),
      ],
      extra: args,
    });
    return new ConsoleHost(await QemuRun.start({ argv, log: join(ARTIFACTS, `${name}.log`), input: true }));
  }

  // Milliseconds since QEMU started.
  get now(): number {
    return this.run.elapsedMs;
  }

  // Waits for a console line matching `marker` printed at or after `since` (ms); resolves with its time.
  waitFor(marker: string | RegExp, timeoutS: number, since = 0): Promise<number> {
    return this.run.waitFor(marker, timeoutS * 1000, since);
  }

  // Types a command at the console shell and waits for it to finish; resolves with its exit status and what the
  // console printed meanwhile.
  async command(line: string, timeoutS = 120): Promise<{ status: number; output: string }> {
    const id = ++this.commands;
    const since = this.now;
    this.run.send(`${line}; echo "MVOS-CMD-${id}-STATUS-$?"\n`);
    await this.waitFor(new RegExp(`MVOS-CMD-${id}-STATUS-\\d+`), timeoutS, since);
    const output = this.run.outputSince(since);
    const status = Number(new RegExp(`MVOS-CMD-${id}-STATUS-(\\d+)`).exec(output.replace(/\$\?/g, ''))?.[1]);
    return { status, output };
  }

  // Types a command that does not come back (it reboots the host).
  type(line: string): void {
    this.run.send(`${line}\n`);
  }

  // Power cut.
  async kill(): Promise<void> {
    await this.run.kill();
  }

  async stop(): Promise<void> {
    await this.run.stop();
  }
}
