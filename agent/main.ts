// The host agent: reads the host config, picks the accelerator, starts the supervisor (controller first), serves its
// API, says it is ready, and stays up.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatProblem, MvosError, UserError } from '../common/errors.ts';
import { chooseAccel } from '../common/qemu/runner.ts';
import { type Api, startApi } from './api/server.ts';
import { AGENT_USAGE, type AgentArgs, parseAgentArgs } from './args.ts';
import { type HostConfig, readHostConfig } from './config.ts';
import type { FleetLink } from './fleet/link.ts';
import { LoginRefusals } from './fleet/login-refusals.ts';
import { imagePath } from './launch/vm.ts';
import { type ListenerStatus, RetryingListener } from './listeners/retry.ts';
import { findSocat, type OnionDoors, onionDoors } from './onion/doors.ts';
import { OnionService } from './onion/service.ts';
import type { SshServer } from './ssh/server.ts';
import { type AgentStatus, initialStatus, READY_MARKER, writeStatus } from './status.ts';
import { Supervisor } from './supervisor/supervisor.ts';
import { folderEsp } from './update/esp.ts';
import { hostUpdateCli } from './update/host-cli.ts';
import { hostSlotOptions } from './update/host-slots.ts';
import { labelledMedium, MediumWatch } from './update/medium.ts';
import { UpdateService } from './update/service.ts';
import { hostVaultCli } from './vault/host-cli.ts';
import { VaultService } from './vault/service.ts';

// How long the onion service's gateway may take to take a new list of clients.
const ONION_CHANGE_TIMEOUT_MS = 30_000;

// The agent's log lines, and the host's `mvos update` messages.
let logPrefix = 'mvos-agent';

function log(line: string): void {
  process.stderr.write(`${logPrefix}: ${line}\n`);
}

// The update service: the ESP by label (or --esp-dir), the slot from the kernel command line (or --boot-slot; `efi`:
// a Secure Boot host's UKI, whose slot the firmware's variables chose), and a reboot through init when init runs the
// agent. A state partition in RAM takes no bundle: the try's record would not outlive its reboot.
async function openUpdates(config: HostConfig, args: AgentArgs, onChange: () => void): Promise<UpdateService> {
  const slots = await hostSlotOptions(
    config.name,
    config.version,
    args.runDir,
    args.bootSlot,
    args.espDir ? folderEsp(args.espDir) : undefined,
  );
  const state = await readFile(join(args.runDir, 'state'), 'utf8').catch(() => '');
  return UpdateService.open({
    ...(config.update ? { config: config.update } : {}),
    host: config.name,
    version: config.version,
    stateDir: args.stateDir,
    runDir: args.runDir,
    ...slots,
    // A UKI host's firmware counts no boots: init resets no counter there.
    ...(args.underInit ? { reboot: () => process.kill(1, 'SIGTERM'), bootCounter: slots.layout !== 'uki' } : {}),
    ...(state.startsWith('tmpfs')
      ? { refuse: "the state partition is in RAM: a try's record would not outlive its reboot" }
      : {}),
    log,
    onChange,
  });
}

async function start(argv: string[]): Promise<void> {
  const args = parseAgentArgs(argv);
  if (args.help) {
    process.stdout.write(`${AGENT_USAGE}\n`);
    return;
  }
  let status: AgentStatus | undefined;
  let api: Api | undefined;
  let ssh: SshServer | undefined;
  let sshListener: RetryingListener<SshServer> | undefined;
  let supervisor: Supervisor | undefined;
  let update: UpdateService | undefined;
  let medium: MediumWatch | undefined;
  let fleet: FleetLink | undefined;
  let stopFleetEvents = (): void => undefined;
  let stopping = false;
  // Installed before anything else, so a SIGTERM that comes early (right after the ready line, or during the probe) is
  // a clean stop too.
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping${args.stopVmsOnExit ? ' (and the VMs)' : ' (the VMs keep running)'}`);
    if (status) {
      status = { ...status, state: 'stopping' };
      await writeStatus(args.runDir, status).catch(() => undefined);
    }
    await (args.stopVmsOnExit ? supervisor?.stopAll() : supervisor?.detachAll())?.catch((error: Error) =>
      log(`stopping VMs: ${error.message}`),
    );
    update?.close();
    medium?.stop();
    stopFleetEvents();
    await fleet?.close();
    await (sshListener ? sshListener.close() : ssh?.close());
    await api?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const read = await readHostConfig(args.config);
  // The key file is a path inside the image, like the VM images (under --root on a build machine).
  const keyed = read.agent.secretKeyFile
    ? { ...read, agent: { ...read.agent, secretKeyFile: await imagePath(args.root, read.agent.secretKeyFile) } }
    : read;
  // The shipped TLS pair is an image path too.
  const tls = keyed.agent.apiTls;
  const config =
    tls?.source === 'key-folder'
      ? {
          ...keyed,
          agent: {
            ...keyed.agent,
            apiTls: {
              ...tls,
              certFile: await imagePath(args.root, tls.certFile),
              keyFile: await imagePath(args.root, tls.keyFile),
            },
          },
        }
      : keyed;
  const choice = await chooseAccel(args.accel, { timeoutMs: args.kvmTimeoutMs });
  if (choice.warning) log(`warning: ${choice.warning}`);
  await mkdir(args.stateDir, { recursive: true, mode: 0o700 });
  await mkdir(args.runDir, { recursive: true, mode: 0o755 });
  status = initialStatus(config, {
    accel: choice.accel,
    accelReason: choice.reason,
    stateDir: args.stateDir,
    startedAt: new Date(),
    warnings: choice.warning ? [choice.warning] : [],
  });
  // status.json appears only once the agent is ready: init takes its existence as "this boot reached agent ready".
  let published = false;
  const refresh = (): void => {
    if (!status || !supervisor || stopping) return;
    const degraded = supervisor
      .listVms()
      .flatMap((vm) => (vm.pinning?.degraded ? [`${vm.name}: CPU pinning degraded: ${vm.pinning.degraded}`] : []));
    const listeners = [api?.tcpListener?.status, sshListener?.status].filter(
      (l): l is ListenerStatus => l !== undefined,
    );
    const down = listeners.flatMap((l) =>
      l.state === 'failed' ? [`${l.name} listener down since ${l.since}: ${l.error}`] : [],
    );
    status = {
      ...status,
      vms: supervisor.listVms(),
      rescue: supervisor.rescueState(),
      warnings: [...(choice.warning ? [choice.warning] : []), ...degraded, ...down],
      ...(listeners.length > 0 ? { listeners } : {}),
      ...(onion ? { onion: onion.service.view() } : {}),
      ...(config.update && update ? { update: update.view() } : {}),
      ...(fleet ? { fleet: fleet.view() } : {}),
      ...listenedAt(),
    };
    if (published) void writeStatus(args.runDir, api?.status() ?? status).catch(() => undefined);
    fleet?.changed();
  };
  // The onion call-home: its key and clients, and the doors its gateway's local link leads to (before the API and the
  // SSH server, which serve those doors too).
  const onionGateway = config.networks?.routers.find((r) => r.onion)?.vm;
  let onion: { service: OnionService; doors: OnionDoors; socat: string } | undefined;
  if (onionGateway) {
    const doors = await onionDoors(args.runDir, Boolean(config.agent.sshListen));
    const service = await OnionService.open(args.stateDir, onionGateway, {
      ssh: doors.ssh !== undefined,
      log,
      report: () => supervisor?.guestReport(onionGateway, 'MVOS-ONION'),
      request: async (line, reply) => supervisor?.guestRequest(onionGateway, line, reply, ONION_CHANGE_TIMEOUT_MS),
    });
    onion = { service, doors, socat: await findSocat() };
  }
  update = await openUpdates(config, args, refresh);
  // The vault stays locked until someone unlocks it: its key is never on disk.
  const vault = await VaultService.open(args.stateDir, { log });
  supervisor = new Supervisor(config, {
    stateDir: args.stateDir,
    root: args.root,
    accel: choice.accel,
    accelReason: choice.reason,
    agentVersion: config.version,
    stopGraceMs: args.stopGraceMs,
    log,
    onChange: refresh,
    ...(onion ? { onion } : {}),
    vault,
  });
  // On the host a listener that cannot bind (its port still held by an agent that is stopping) is retried, and the VMs
  // and the other doors keep running; elsewhere the agent ends with the one-line reason.
  const retrying = args.onListenFailure === 'retry';
  // Where the TCP listeners are bound now, for status.
  const listenedAt = (): Pick<AgentStatus, 'api' | 'ssh'> => {
    const tcp = api?.tcpListener ? api.tcpListener.value : api?.tcp;
    const cert = tcp?.certificate;
    const server = sshListener ? sshListener.value : ssh;
    return {
      ...(tcp
        ? {
            api: {
              url: tcp.url,
              ...(cert ? { tls: { source: cert.source, certificate: cert.file, fingerprint: cert.fingerprint } } : {}),
            },
          }
        : {}),
      ...(server ? { ssh: { listen: `${server.host}:${server.port}`, fingerprint: server.fingerprint } } : {}),
    };
  };
  api = await startApi({
    controls: supervisor,
    status: () => status!,
    config,
    stateDir: args.stateDir,
    runDir: args.runDir,
    log: (line) => log(`api: ${line}`),
    ...(retrying ? { retryListen: { onChange: refresh } } : {}),
    ...(onion ? { onion: { socket: onion.doors.api, address: onion.service.address } } : {}),
    update,
    vault,
  });
  // status.json says when the audit log has dropped entries (refreshed at most about once a minute for it).
  api.audit.onSummary(refresh);
  if (api.tcp) log(`api: listening on ${api.tcp.url}`);
  if (config.agent.sshListen) {
    const secretKeyFile = config.agent.secretKeyFile;
    const shared = api.shared;
    // ssh2 and the fleet's NATS client are loaded only by a host that uses them: evaluated, each costs the agent some
    // MiB of memory.
    const { startSshServer } = await import('./ssh/server.ts');
    const bindSsh = (): Promise<SshServer> =>
      startSshServer({
        listen: config.agent.sshListen!,
        stateDir: args.stateDir,
        users: config.agent.users,
        ...(secretKeyFile ? { secretKeyFile } : {}),
        controls: supervisor!,
        update: update!,
        vault,
        log,
        shared,
        ...(onion?.doors.ssh ? { onionSocket: onion.doors.ssh } : {}),
      });
    if (retrying) {
      sshListener = new RetryingListener('ssh', config.agent.sshListen, bindSsh, { log, onChange: refresh });
      await sshListener.start();
    } else ssh = await bindSsh();
  }
  status = { ...status, ...listenedAt() };
  if (stopping) return api.close();
  // The fleet link connects in the background: a broker that is down never holds the agent up.
  const fleetConfig = config.agent.fleet;
  if (fleetConfig) {
    const shared = api;
    const { FleetLink, readSeedFile } = await import('./fleet/link.ts');
    fleet = FleetLink.start({
      servers: fleetConfig.servers,
      host: fleetConfig.host,
      seed: await readSeedFile(await imagePath(args.root, fleetConfig.seedFile)),
      ...(fleetConfig.caFile ? { caFile: await imagePath(args.root, fleetConfig.caFile) } : {}),
      ...(fleetConfig.via ? { via: fleetConfig.via } : {}),
      intervalMs: fleetConfig.intervalSeconds * 1000,
      status: () => shared.status(),
      controls: supervisor,
      update,
      vault,
      audit: shared.audit,
      log,
      onChange: refresh,
    });
    const link = fleet;
    const refusals = new LoginRefusals((kind, text) => link.event(kind, text));
    shared.audit.onRefusal((entry) => refusals.take(entry));
    stopFleetEvents = () => refusals.close();
  }
  await supervisor.start();
  refresh();
  published = true;
  await writeStatus(args.runDir, api.status());
  process.stdout.write(`${READY_MARKER} ${config.name} ${config.version} accel=${choice.accel}\n`);
  // A stick or disk labelled MVOS-UPDATE brings bundles to a host with no network (not with --esp-dir: tests).
  if (update!.view().enabled && !args.espDir) {
    medium = new MediumWatch(labelledMedium(args.runDir), update!, log);
    medium.start();
  }
  // A version on trial is kept once the agent is ready and every VM the recipe's gate names is.
  update!.startGate(() =>
    (config.update?.require ?? []).flatMap((name) => {
      const vm = supervisor!.listVms().find((v) => v.name === name);
      return vm?.state === 'ready' ? [] : [`${name} is not ready (${vm?.state ?? 'unknown'})`];
    }),
  );
}

// Errors leave with the CLI's exit codes: 2 for wrong input (bad config, bad flag), 1 for failures.
function fail(error: unknown): never {
  if (error instanceof MvosError) {
    if (error instanceof UserError) for (const problem of error.problems) log(`  ${formatProblem(problem)}`);
    log(`error: ${error.message}`);
    if (error.hint) log(`hint: ${error.hint}`);
  } else {
    log(`internal error: ${(error as Error)?.stack ?? String(error)}`);
  }
  process.exit(error instanceof MvosError ? error.exitCode : 1);
}

// The host's `mvos update …` and `mvos vault …` (/usr/bin/mvos) run this bundle too.
if (process.argv[2] === 'update' || process.argv[2] === 'vault') {
  logPrefix = 'mvos';
  const cli = process.argv[2] === 'update' ? hostUpdateCli : hostVaultCli;
  await cli(process.argv.slice(3)).then((code) => process.exit(code), fail);
} else await start(process.argv.slice(2)).catch(fail);
