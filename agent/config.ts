// The host config the builder writes to /etc/mvos/host.json: read, checked field by field against
// common/host-config.ts, returned typed.
import { readFile } from 'node:fs/promises';
import { type Problem, UserError } from '../common/errors.ts';
import { brokerTarget } from '../common/fleet/connection.ts';
import { FLEET_NAME } from '../common/fleet/subjects.ts';
import type {
  AgentListen,
  AgentUser,
  ApiTlsConfig,
  FleetConfig,
  HostConfig,
  NetworksConfig,
  UpdateConfig,
  VmConfig,
  VmFirmware,
} from '../common/host-config.ts';
import { isLoopbackHost, isLoopbackListen } from './api/loopback.ts';
import { checkNetworks } from './net/check.ts';

// The host config's types are the contract in common/host-config.ts; the agent's modules take them from here.
export type {
  AgentListen,
  AgentUser,
  ApiTlsConfig,
  HostConfig,
  NetworksConfig,
  VmConfig,
  VmFirmware,
} from '../common/host-config.ts';

// Every value of a union of the contract, in order: one the contract adds and the checker misses is a compile error.
function allOf<T extends string>(values: { [K in T]: true }): readonly T[] {
  return Object.keys(values) as T[];
}

const ROLES = allOf<VmConfig['role']>({ controller: true, rescue: true, application: true, utility: true });
const LAUNCHES = allOf<VmConfig['launch']>({ vm: true, novm: true, container: true });
const FIRMWARES = allOf<VmFirmware['type']>({ ovmf: true, 'ovmf-secureboot': true, seabios: true, none: true });
const HUGEPAGES = allOf<VmConfig['hugepages']>({ auto: true, on: true, off: true });
const OTP_TYPES = allOf<NonNullable<AgentUser['otp']>['type']>({ totp: true, hotp: true });
const TLS_SOURCES = allOf<ApiTlsConfig['source']>({ 'key-folder': true, 'self-signed': true });

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
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return this.fail(path, `must be an object (got ${kind(value)})`);
    return value as Json;
  }

  string(
    parent: Json,
    key: string,
    path: string,
    options: { optional?: boolean; empty?: boolean } = {},
  ): string | undefined {
    const value = parent[key];
    if ((value === undefined || value === null) && options.optional) return undefined;
    if (value === undefined) return this.fail(`${path}/${key}`, 'missing (a string is required)');
    if (typeof value !== 'string' || (value === '' && !options.empty))
      return this.fail(`${path}/${key}`, `must be a non-empty string (got ${kind(value)})`);
    return value;
  }

  integer(parent: Json, key: string, path: string, min: number): number | undefined {
    const value = parent[key];
    if (value === undefined) return this.fail(`${path}/${key}`, `missing (an integer ≥ ${min} is required)`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
      return this.fail(`${path}/${key}`, `must be an integer ≥ ${min} (got ${kind(value)})`);
    return value;
  }

  oneOf<T extends string>(parent: Json, key: string, path: string, allowed: readonly T[]): T | undefined {
    const value = this.string(parent, key, path);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value))
      return this.fail(`${path}/${key}`, `must be one of ${allowed.join(', ')} (got "${value}")`);
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
    if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && s !== ''))
      return this.fail(`${path}/${key}`, 'must be a list of non-empty strings');
    return value as string[];
  }

  integers(parent: Json, key: string, path: string): number[] | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((n) => Number.isInteger(n) && n >= 0))
      return this.fail(`${path}/${key}`, 'must be a list of CPU numbers (integers ≥ 0)');
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
  if (typeof value === 'string')
    return (FIRMWARES as readonly string[]).includes(value)
      ? { type: value as VmFirmware['type'] }
      : c.fail(path, `must be one of ${FIRMWARES.join(', ')} (got "${value}")`);
  const fw = c.object(value, path);
  if (!fw) return undefined;
  const menuWait =
    fw.menuWaitMs === undefined || fw.menuWaitMs === null ? undefined : c.integer(fw, 'menuWaitMs', path, 0);
  return {
    type: c.oneOf(fw, 'type', path, FIRMWARES)!,
    ...optional('code', c.string(fw, 'code', path, { optional: true })),
    ...optional('vars', c.string(fw, 'vars', path, { optional: true })),
    ...optional(
      'bootOrder',
      fw.bootOrder === undefined || fw.bootOrder === null ? undefined : c.strings(fw, 'bootOrder', path),
    ),
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
  return attempts === undefined || backoffSeconds === undefined || windowSeconds === undefined
    ? undefined
    : { attempts, backoffSeconds, windowSeconds };
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
    ...optional(
      'otp',
      otp && { type: c.oneOf(otp, 'type', `${path}/otp`, OTP_TYPES)!, secret: c.string(otp, 'secret', `${path}/otp`)! },
    ),
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
      heartbeatSeconds:
        health.heartbeatSeconds === undefined ? 30 : c.integer(health, 'heartbeatSeconds', `${path}/health`, 1),
    },
    hugepages: vm.hugepages === undefined ? 'auto' : c.oneOf(vm, 'hugepages', path, HUGEPAGES),
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
    c.fail(
      '/agent/apiListen',
      `plain HTTP on ${apiListen}, off loopback, without apiInsecure (passwords and session cookies would cross the network readable)`,
    );
  }
  const sshListen = c.string(agent, 'sshListen', '/agent', { optional: true });
  const secretKeyFile = c.string(agent, 'secretKeyFile', '/agent', { optional: true });
  const fleet = checkFleet(c, agent.fleet);
  let users: AgentUser[] = [];
  if (agent.users !== undefined && agent.users !== null) {
    if (!Array.isArray(agent.users)) c.fail('/agent/users', `must be a list (got ${kind(agent.users)})`);
    else
      users = agent.users
        .map((u, i) => checkUser(c, u, `/agent/users/${i}`))
        .filter((u): u is AgentUser => u !== undefined);
  }
  return {
    ...(apiListen ? { apiListen } : {}),
    ...optional('apiTls', tls),
    ...(apiInsecure ? { apiInsecure } : {}),
    ...(apiNames?.length ? { apiNames: apiNames.map((n) => n.toLowerCase()) } : {}),
    ...(sshListen ? { sshListen } : {}),
    users,
    ...(secretKeyFile ? { secretKeyFile } : {}),
    ...(fleet ? { fleet } : {}),
  };
}

function checkFleet(c: Checker, raw: unknown): FleetConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const fleet = c.object(raw, '/agent/fleet');
  if (!fleet) return undefined;
  const servers = c.strings(fleet, 'servers', '/agent/fleet') ?? [];
  if (servers.length === 0 || servers.length > 16) c.fail('/agent/fleet/servers', 'must name 1 to 16 brokers');
  for (const url of servers) {
    const parsed = /^(nats|tls):\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d+)?$/.exec(url);
    if (!parsed) c.fail('/agent/fleet/servers', `"${url.slice(0, 80)}" is not nats://HOST:PORT or tls://HOST:PORT`);
    // Commands come in on this connection: in the clear, anyone on the path could inject one.
    else if (parsed[1] === 'nats' && !isLoopbackHost(parsed[2]!.replace(/^\[|\]$/g, '')))
      c.fail('/agent/fleet/servers', `${url}: a broker off this machine is reached over TLS (tls://)`);
  }
  const host = c.string(fleet, 'host', '/agent/fleet');
  if (host !== undefined && !FLEET_NAME.test(host)) c.fail('/agent/fleet/host', `"${host}" is not a fleet host id`);
  const seedFile = c.string(fleet, 'seedFile', '/agent/fleet');
  const caFile = c.string(fleet, 'caFile', '/agent/fleet', { optional: true });
  const via = c.string(fleet, 'via', '/agent/fleet', { optional: true });
  const intervalSeconds =
    fleet.intervalSeconds === undefined ? 5 : c.integer(fleet, 'intervalSeconds', '/agent/fleet', 1);
  if (intervalSeconds !== undefined && intervalSeconds > 300) c.fail('/agent/fleet/intervalSeconds', 'at most 300');
  return host && seedFile && intervalSeconds
    ? { servers, host, seedFile, intervalSeconds, ...(caFile ? { caFile } : {}), ...(via ? { via } : {}) }
    : undefined;
}

// A fleet that goes out through a router: that router relays exactly the fleet's brokers, in order.
function checkFleetWay(c: Checker, fleet: FleetConfig | undefined, networks: NetworksConfig | undefined): void {
  if (!fleet?.via) return;
  const egress = networks?.routers.find((r) => r.vm === fleet.via)?.egress;
  if (!egress)
    return void c.fail('/agent/fleet/via', `names no router that relays the host's connections ("${fleet.via}")`);
  const wanted = fleet.servers.map((url) => {
    const { host, port } = brokerTarget(url);
    return `${host}:${port}`;
  });
  const relayed = egress.targets.map((t) => `${t.host}:${t.port}`);
  if (wanted.join(',') !== relayed.join(','))
    c.fail('/agent/fleet/via', `${fleet.via} relays ${relayed.join(', ')}, not the brokers ${wanted.join(', ')}`);
}

function checkUpdate(c: Checker, raw: unknown, names: readonly (string | undefined)[]): UpdateConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const update = c.object(raw, '/update');
  if (!update) return undefined;
  const publicKey = c.string(update, 'publicKey', '/update');
  if (publicKey !== undefined && !/^RW[A-Za-z0-9+/]{54}$/.test(publicKey))
    c.fail('/update/publicKey', 'must be a minisign public key line (RW and 54 base64 characters)');
  const deadline = c.integer(update, 'deadline', '/update', 30);
  const require = Array.isArray(update.require) ? update.require : c.fail('/update/require', 'must be a list of VMs');
  require?.forEach((name, i) => {
    if (typeof name !== 'string' || !names.includes(name)) c.fail(`/update/require/${i}`, 'names no VM of this host');
  });
  if (publicKey === undefined || deadline === undefined || !require) return undefined;
  return { publicKey, deadline, require: require as string[] };
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
    housekeeping:
      root.housekeeping === undefined || root.housekeeping === null ? [0] : c.integers(root, 'housekeeping', ''),
    ...optional('containers', containers(c, root.containers)),
    agent: agent && listen(c, agent),
    vms: [] as VmConfig[],
  };
  if (!Array.isArray(root.vms))
    c.fail(
      '/vms',
      root.vms === undefined ? 'missing (a list of VMs is required)' : `must be a list (got ${kind(root.vms)})`,
    );
  else
    value.vms = root.vms
      .map((vm, index) => checkVm(c, vm, `/vms/${index}`))
      .filter((vm): vm is VmConfig => vm !== undefined);
  const names = value.vms.map((vm) => vm.name);
  value.vms.forEach((vm, index) => {
    if (vm.fallback !== undefined && !names.includes(vm.fallback))
      c.fail(`/vms/${index}/fallback`, `names no VM of this host ("${vm.fallback}")`);
  });
  names.forEach((name, index) => {
    if (name !== undefined && names.indexOf(name) !== index)
      c.fail(`/vms/${index}/name`, `"${name}" is used by another VM too`);
  });
  const networks = checkNetworks(root.networks, names);
  c.problems.push(...networks.problems);
  if (networks.value) Object.assign(value, { networks: networks.value });
  checkFleetWay(c, value.agent?.fleet, networks.value);
  const update = checkUpdate(c, root.update, names);
  if (update) Object.assign(value, { update });
  return c.problems.length > 0 ? { problems: c.problems } : { value: value as HostConfig, problems: [] };
}

// Reads and checks the host config; a missing file, bad JSON or a wrong field is a UserError naming the file.
export async function readHostConfig(file: string): Promise<HostConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(
      `cannot read the host config ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      {
        hint: 'the image build writes /etc/mvos/host.json; name another file with --config FILE',
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UserError(`the host config ${file} is not valid JSON: ${(error as Error).message}`, {
      hint: 'rebuild the image with `mvos build`',
    });
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
