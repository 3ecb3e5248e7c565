// What the agent can be asked to do: one interface behind the HTTP API, the WebUI, the SSH command jail and `mvos vm`.
import type { ConsoleSession, ConsoleViewer } from './console/broker.ts';

// Where a VM is in its life; `ready` means it reported its health marker within its deadline.
export type VmState = 'stopped' | 'starting' | 'running' | 'ready' | 'failed' | 'stopping';

// Where each vCPU and the emulator threads run, as planned from the host topology and as applied.
export interface PinPlan {
  housekeeping: number[];
  vcpus: Array<{ vcpu: number; cpu: number; tid?: number }>;
  emulator: number[];
  // Set when the host has too few CPUs for whole cores (or any pinning at all): what was given up.
  degraded?: string;
  // Where the VM's memory is placed (NUMA node, hugepages).
  memory?: MemoryPlacement;
}

// A VM's memory placement: bound to one NUMA node or left to the kernel, on hugepages or not, and why.
export interface MemoryPlacement {
  policy: 'bind' | 'default';
  node?: number;
  hugepages: boolean;
  note: string;
}

// One entry in a VM's health history (started, ready, failed, stopped, fallback, restart…).
export interface HealthEvent {
  at: string;
  event: string;
  detail?: string;
}

// A VM as the agent reports it.
export interface VmView {
  name: string;
  role: 'controller' | 'rescue' | 'application' | 'utility';
  launch: 'vm' | 'novm' | 'container';
  state: VmState;
  pid?: number;
  startedAt?: string;
  readyAt?: string;
  ephemeral: boolean;
  autostart: boolean;
  pinning?: PinPlan;
  // Why it last failed (crash, panic, missed deadline, guest-reported problem), if it did.
  failure?: { reason: string; at: string };
  // A container workload's result: the exit code of its command (the VM's result).
  result?: { exitCode: number; at: string };
  history: HealthEvent[];
}

// A container workload to run once: an OCI image on the host (layout folder or `docker save` tarball), in a microVM.
export interface ContainerRequest {
  name: string;
  image: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  cpus?: number;
  memoryMiB?: number;
}

// One disk checkpoint of a VM (a node in its qcow2 backing tree).
export interface CheckpointView {
  id: string;
  parent?: string;
  label?: string;
  createdAt: string;
  sizeBytes: number;
  pinned: boolean;
  // The checkpoint the VM's running disk grows from.
  current: boolean;
}

// Whether the host runs on its rescue VM because the controller failed.
export interface RescueState {
  active: boolean;
  reason?: string;
  since?: string;
}

// Facts about the host for the API and the WebUI.
export interface HostFacts {
  name: string;
  version: string;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  cpus: { online: number[]; cores: number[][]; nodes: number[][] };
  memoryMiB: number;
  versions: { agent: string; node: string; qemu: string };
  rescue: RescueState;
}

// Why a control was refused; the API maps kinds to HTTP codes (404, 409, 400, 429), SSH prints the message.
export class ControlError extends Error {
  constructor(
    readonly kind: 'not-found' | 'conflict' | 'invalid' | 'limited',
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

// The agent's controls; every method that changes something resolves once the change is done (or throws ControlError).
export interface Controls {
  hostFacts(): Promise<HostFacts>;
  listVms(): VmView[];
  getVm(name: string): VmView | undefined;
  startVm(name: string): Promise<VmView>;
  stopVm(name: string): Promise<VmView>;
  restartVm(name: string): Promise<VmView>;
  // The serial console log so far (the last `tailBytes` of it when given).
  consoleLog(name: string, options?: { tailBytes?: number }): Promise<string>;
  // Calls onData with console output as it arrives; the returned function stops it.
  followConsole(name: string, onData: (chunk: Buffer) => void): () => void;
  // A session on the VM's one console broker: `back` bytes of scrollback then live output, and the keyboard with `write`
  // (refused while another session holds it, unless `force`).
  openConsole(name: string, viewer: ConsoleViewer, options?: { write?: boolean; force?: boolean; back?: number }): ConsoleSession;
  listCheckpoints(name: string): Promise<CheckpointView[]>;
  createCheckpoint(name: string, label?: string): Promise<CheckpointView>;
  rollback(name: string, id: string, options?: { restart?: boolean }): Promise<void>;
  pinCheckpoint(name: string, id: string, pinned: boolean): Promise<void>;
  deleteCheckpoint(name: string, id: string): Promise<void>;
  // Switch to the rescue VM (stop the controller, start rescue), recording the reason.
  rescue(reason: string): Promise<RescueState>;
  rescueState(): RescueState;
  // Unpacks the image and starts it in a microVM; resolves once it runs (its output is the console log, its exit code the result).
  runContainer(request: ContainerRequest): Promise<VmView>;
}
