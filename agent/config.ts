// The host config the builder writes to /etc/mvos/host.json: read, checked field by field, returned typed.
import { readFile } from 'node:fs/promises';
import { UserError, type Problem } from '../common/errors.ts';
import { isLoopbackListen } from './api/loopback.ts';

// How the agent knows a VM is up: a marker line within a deadline.
export interface VmHealth {
  deadlineSeconds: number;
  marker: string;
  // How long QEMU may leave a QMP query-status unanswered before the VM counts as hung.
  hangSeconds: number;
  // How long the guest's heartbeat may be silent, once it began, before the guest counts as hung.
  heartbeatSeconds: number;
}

// One VM the host runs, with everything the agent needs to launch it.
export interface VmConfig {
  name: string;
  role: 'controller' | 'rescue' | 'application' | 'utility';
  launch: 'vm' | 'novm' | 'container';
  cpus: number;
  memoryMiB: number;
  pin?: number[];
  autostart: boolean;
  ephemeral: boolean;
  kernel: string;
  initrd: string;
  cmdline: string;
  firmware: VmFirmware;
  // The immutable base disk (EROFS of the guest's root) the VM's qcow2 overlay grows from; absent: no disk.
  disk?: string;
  health: VmHealth;
  // The VM started instead when this one fails.
  fallback?: string;
  // More than `attempts` failures within `windowSeconds` fall back (or, without a fallback, stop restarting).
  restart: { attempts: number; backoffSeconds: number; windowSeconds: number };
  // Hugepage backing for the VM's memory: auto when the VM's NUMA node has enough free.
  hugepages: 'auto' | 'on' | 'off';
}

// The firmware a VM starts with: its type, and the files the builder shipped beside the guest image (code and vars template).
export interface VmFirmware {
  // none: direct kernel boot without firmware (novm, container).
  type: 'ovmf' | 'ovmf-secureboot' | 'seabios' | 'none';
  code?: string;
  vars?: string;
  bootOrder?: string[];
  menuWaitMs?: number;
}

// One person who may control the host: password (HTTP), SSH keys, and a one-time-code secret (encrypted; opaque here).
export interface AgentUser {
  name: string;
  passwordHash?: string;
  authorizedKeys: string[];
  otp?: { type: 'totp' | 'hotp'; secret: string };
}

// How the TCP API speaks TLS: the image's certificate and key (from the build's key folder), or one the agent makes on first start.
export type ApiTlsConfig = { source: 'key-folder'; certFile: string; keyFile: string } | { source: 'self-signed' };

// Where the agent listens besides its unix socket (off unless named).
export interface AgentListen {
  apiListen?: string;
  apiTls?: ApiTlsConfig;
  // Plain HTTP off loopback: only when the recipe said `insecure: true`.
  apiInsecure?: boolean;
  // DNS names the API is reached by: accepted as Host and Origin, and in a self-signed certificate.
  apiNames?: string[];
  sshListen?: string;
  users: AgentUser[];
  // The key that decrypts the users' one-time-code secrets (a file outside host.json, root-only).
  secretKeyFile?: string;
}

// The whole host config; fields the agent does not know are kept out, never refused; null stands for absent.
export interface HostConfig {
  name: string;
  version: string;
  vms: VmConfig[];
  agent: AgentListen;
  stateLabel: string;
  // CPUs the host keeps for itself (the agent, QEMU's I/O); VMs are pinned elsewhere.
  housekeeping: number[];
  // The kernel and init container workloads boot (absent: this host cannot run containers).
  containers?: { kernel: string; initrd: string };
}

const ROLES = ['controller', 'rescue', 'application', 'utility'] as const;
const LAUNCHES = ['vm', 'novm', 'container'] as const;
const FIRMWARES = ['ovmf', 'ovmf-secureboot', 'seabios', 'none'] as const;
const OTP_TYPES = ['totp', 'hotp'] as const;
const TLS_SOURCES = ['key-folder', 'self-signed'] as const;

type Json = Record<string, unknown>;

// Collects every problem at once, each under its JSON path, so one run of the agent shows them all.
class Checker {
  readonly problems: Problem[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  object(value: unknown, path: string): Json | undefined {
    if (value === undefined) return this.fail(path, 'missing (an object is required)');
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(path, `must be an object (got ${kind(value)})`);
    return value as Json;
  }

  string(parent: Json, key: string, path: string, options: { optional?: boolean; empty?: boolean } = {}): string | undefined {
    const value = parent[key];
    if ((value === undefined || value === null) && options.optional) return undefined;
    if (value === undefined) return this.fail(`${path}/${key}`, 'missing (a string is required)');
    if (typeof value !== 'string' || (value === '' && !options.empty)) return this.fail(`${path}/${key}`, `must be a non-empty string (got ${kind(value)})`);
    return value;
  }

  integer(parent: Json, key: string, path: string, min: number): number | undefined {
    const value = parent[key];
    if (value === undefined) return this.fail(`${path}/${key}`, `missing (an integer ≥ ${min} is required)`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) return this.fail(`${path}/${key}`, `must be an integer ≥ ${min} (got ${kind(value)})`);
    return value;
  }

  oneOf<T extends string>(parent: Json, key: string, path: string, allowed: readonly T[]): T | undefined {
    const value = this.string(parent, key, path);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) return this.fail(`${path}/${key}`, `must be one of ${allowed.join(', ')} (got "${value}")`);
    return value as T;
  }

  boolean(parent: Json, key: string, path: string, fallback: boolean): boolean | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') return this.fail(`${path}/${key}`, `must be true or false (got ${kind(value)})`);
    return value;
  }

  strings(parent: Json, key: string, path: string): string[] | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && s !== '')) return this.fail(`${path}/${key}`, 'must be a list of non-empty strings');
    return value as string[];
  }

  integers(parent: Json, key: string, path: string): number[] | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((n) => Number.isInteger(n) && n >= 0)) return this.fail(`${path}/${key}`, 'must be a list of CPU numbers (integers ≥ 0)');
    return value as number[];
  }
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}

function pinned(pin: number[] | undefined): { pin?: number[] } {
  return pin ? { pin } : {};
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

// A bare string names the type only (the agent then takes the firmware files of the host's own packages).
function firmware(c: Checker, value: unknown, path: string): VmFirmware | undefined {
  if (typeof value === 'string') return (FIRMWARES as readonly string[]).includes(value) ? { type: value as VmFirmware['type'] } : c.fail(path, `must be one of ${FIRMWARES.join(', ')} (got "${value}")`);
  const fw = c.object(value, path);
  if (!fw) return undefined;
  const menuWait = fw.menuWaitMs === undefined || fw.menuWaitMs === null ? undefined : c.integer(fw, 'menuWaitMs', path, 0);
  return {
    type: c.oneOf(fw, 'type', path, FIRMWARES)!,
    ...optional('code', c.string(fw, 'code', path, { optional: true })),
    ...optional('vars', c.string(fw, 'vars', path, { optional: true })),
    ...optional('bootOrder', fw.bootOrder === undefined || fw.bootOrder === null ? undefined : c.strings(fw, 'bootOrder', path)),
    ...optional('menuWaitMs', menuWait),
  };
}

function restart(c: Checker, value: unknown, path: string): VmConfig['restart'] | undefined {
  if (value === undefined || value === null) return { attempts: 0, backoffSeconds: 5, windowSeconds: 600 };
  const r = c.object(value, path);
  if (!r) return undefined;
  const attempts = r.attempts === undefined ? 0 : c.integer(r, 'attempts', path, 0);
  const backoff = r.backoff ?? r.backoffSeconds;
  const backoffSeconds = backoff === undefined ? 5 : c.integer({ backoff }, 'backoff', path, 1);
  const windowSeconds = r.windowSeconds === undefined ? 600 : c.integer(r, 'windowSeconds', path, 1);
  return attempts === undefined || backoffSeconds === undefined || windowSeconds === undefined ? undefined : { attempts, backoffSeconds, windowSeconds };
}

function containers(c: Checker, value: unknown): HostConfig['containers'] {
  if (value === undefined || value === null) return undefined;
  const box = c.object(value, '/containers');
  if (!box) return undefined;
  const kernel = c.string(box, 'kernel', '/containers');
  const initrd = c.string(box, 'initrd', '/containers');
  return kernel && initrd ? { kernel, initrd } : undefined;
}

function checkUser(c: Checker, value: unknown, path: string): AgentUser | undefined {
  const user = c.object(value, path);
  if (!user) return undefined;
  const otp = user.otp === undefined || user.otp === null ? undefined : c.object(user.otp, `${path}/otp`);
  return {
    name: c.string(user, 'name', path)!,
    ...optional('passwordHash', c.string(user, 'passwordHash', path, { optional: true })),
    authorizedKeys: c.strings(user, 'authorizedKeys', path) ?? [],
    ...optional('otp', otp && { type: c.oneOf(otp, 'type', `${path}/otp`, OTP_TYPES)!, secret: c.string(otp, 'secret', `${path}/otp`)! }),
  };
}

function checkVm(c: Checker, value: unknown, path: string): VmConfig | undefined {
  const vm = c.object(value, path);
  if (!vm) return undefined;
  const health = c.object(vm.health, `${path}/health`);
  const result = {
    name: c.string(vm, 'name', path),
    role: c.oneOf(vm, 'role', path, ROLES),
    launch: c.oneOf(vm, 'launch', path, LAUNCHES),
    cpus: c.integer(vm, 'cpus', path, 1),
    memoryMiB: c.integer(vm, 'memoryMiB', path, 16),
    ...pinned(c.integers(vm, 'pin', path)),
    autostart: c.boolean(vm, 'autostart', path, false),
    ephemeral: c.boolean(vm, 'ephemeral', path, false),
    kernel: c.string(vm, 'kernel', path),
    initrd: c.string(vm, 'initrd', path),
    cmdline: c.string(vm, 'cmdline', path, { empty: true }),
    firmware: firmware(c, vm.firmware, `${path}/firmware`),
    ...optional('disk', c.string(vm, 'disk', path, { optional: true })),
    health: health && {
      deadlineSeconds: c.integer(health, 'deadlineSeconds', `${path}/health`, 1),
      marker: c.string(health, 'marker', `${path}/health`),
      hangSeconds: health.hangSeconds === undefined ? 15 : c.integer(health, 'hangSeconds', `${path}/health`, 1),
      heartbeatSeconds: health.heartbeatSeconds === undefined ? 30 : c.integer(health, 'heartbeatSeconds', `${path}/health`, 1),
    },
    hugepages: vm.hugepages === undefined ? 'auto' : c.oneOf(vm, 'hugepages', path, ['auto', 'on', 'off'] as const),
    ...optional('fallback', c.string(vm, 'fallback', path, { optional: true })),
    restart: restart(c, vm.restart, `${path}/restart`),
  };
  if (result.pin && result.cpus !== undefined && result.pin.length !== result.cpus) {
    c.fail(`${path}/pin`, `pins ${result.pin.length} CPUs for ${result.cpus} vCPUs (one per vCPU)`);
  }
  return result as VmConfig;
}

function apiTls(c: Checker, value: unknown): ApiTlsConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const tls = c.object(value, '/agent/apiTls');
  const source = tls && c.oneOf(tls, 'source', '/agent/apiTls', TLS_SOURCES);
  if (!tls || source === undefined) return undefined;
  if (source === 'self-signed') return { source };
  const certFile = c.string(tls, 'certFile', '/agent/apiTls');
  const keyFile = c.string(tls, 'keyFile', '/agent/apiTls');
  return certFile && keyFile ? { source, certFile, keyFile } : undefined;
}

function listen(c: Checker, agent: Json): AgentListen {
  const apiListen = c.string(agent, 'apiListen', '/agent', { optional: true });
  const tls = apiTls(c, agent.apiTls);
  const apiInsecure = c.boolean(agent, 'apiInsecure', '/agent', false);
  const apiNames = c.strings(agent, 'apiNames', '/agent');
  // Defence in depth behind the recipe rule: a hand-edited host.json cannot open plain HTTP to the network either.
  if (apiListen && agent.apiTls == null && apiInsecure === false && !isLoopbackListen(apiListen)) {
    c.fail('/agent/apiListen', `plain HTTP on ${apiListen}, off loopback, without apiInsecure (passwords and session cookies would cross the network readable)`);
  }
  const sshListen = c.string(agent, 'sshListen', '/agent', { optional: true });
  const secretKeyFile = c.string(agent, 'secretKeyFile', '/agent', { optional: true });
  let users: AgentUser[] = [];
  if (agent.users !== undefined && agent.users !== null) {
    if (!Array.isArray(agent.users)) c.fail('/agent/users', `must be a list (got ${kind(agent.users)})`);
    else users = agent.users.map((u, i) => checkUser(c, u, `/agent/users/${i}`)).filter((u): u is AgentUser => u !== undefined);
  }
  return {
    ...(apiListen ? { apiListen } : {}),
    ...optional('apiTls', tls),
    ...(apiInsecure ? { apiInsecure } : {}),
    ...(apiNames?.length ? { apiNames: apiNames.map((n) => n.toLowerCase()) } : {}),
    ...(sshListen ? { sshListen } : {}),
    users,
    ...(secretKeyFile ? { secretKeyFile } : {}),
  };
}

// Checks parsed JSON against the host config shape; every problem carries its JSON path.
export function checkHostConfig(json: unknown): { value?: HostConfig; problems: Problem[] } {
  const c = new Checker();
  const root = c.object(json, '');
  if (!root) return { problems: c.problems };
  const agent = root.agent === undefined ? {} : c.object(root.agent, '/agent');
  const value = {
    name: c.string(root, 'name', ''),
    version: c.string(root, 'version', ''),
    stateLabel: c.string(root, 'stateLabel', ''),
    housekeeping: root.housekeeping === undefined || root.housekeeping === null ? [0] : c.integers(root, 'housekeeping', ''),
    ...optional('containers', containers(c, root.containers)),
    agent: agent && listen(c, agent),
    vms: [] as VmConfig[],
  };
  if (!Array.isArray(root.vms)) c.fail('/vms', root.vms === undefined ? 'missing (a list of VMs is required)' : `must be a list (got ${kind(root.vms)})`);
  else value.vms = root.vms.map((vm, index) => checkVm(c, vm, `/vms/${index}`)).filter((vm): vm is VmConfig => vm !== undefined);
  const names = value.vms.map((vm) => vm.name);
  value.vms.forEach((vm, index) => {
    if (vm.fallback !== undefined && !names.includes(vm.fallback)) c.fail(`/vms/${index}/fallback`, `names no VM of this host ("${vm.fallback}")`);
  });
  names.forEach((name, index) => {
    if (name !== undefined && names.indexOf(name) !== index) c.fail(`/vms/${index}/name`, `"${name}" is used by another VM too`);
  });
  return c.problems.length > 0 ? { problems: c.problems } : { value: value as HostConfig, problems: [] };
}

// Reads and checks the host config; a missing file, bad JSON or a wrong field is a UserError naming the file.
export async function readHostConfig(file: string): Promise<HostConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read the host config ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`, {
      hint: 'the image build writes /etc/mvos/host.json; name another file with --config FILE',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UserError(`the host config ${file} is not valid JSON: ${(error as Error).message}`, { hint: 'rebuild the image with `mvos build`' });
  }
  const { value, problems } = checkHostConfig(json);
  if (!value) {
    throw new UserError(`the host config ${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}`, {
      problems,
      hint: 'the image build writes this file from the recipe: rebuild with `mvos build`',
    });
  }
  return value;
}
