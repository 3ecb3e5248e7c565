// What the agent can be asked to do: one interface behind the HTTP API, the WebUI, the SSH command jail and `mvos vm`.
import type {
  CheckpointView,
  ContainerRequest,
  HostFacts,
  NetworksView,
  NetworkView,
  OnionView,
  RescueState,
  VmNetView,
  VmView,
} from '../common/api-types.ts';
import type { ConsoleSession, ConsoleViewer } from './console/broker.ts';

// The shapes the controls hand out are the API's contract in common/api-types.ts; the agent's modules take them from
// here.
export type {
  CheckpointView,
  ContainerRequest,
  HealthEvent,
  HostFacts,
  MemoryPlacement,
  NetworksView,
  NetworkView,
  OnionView,
  PinPlan,
  RescueState,
  VmNetView,
  VmState,
  VmView,
} from '../common/api-types.ts';

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
  // A session on the VM's one console broker: `back` bytes of scrollback then live output, and the keyboard with
  // `write` (refused while another session holds it, unless `force`).
  openConsole(
    name: string,
    viewer: ConsoleViewer,
    options?: { write?: boolean; force?: boolean; back?: number },
  ): ConsoleSession;
  listCheckpoints(name: string): Promise<CheckpointView[]>;
  createCheckpoint(name: string, label?: string): Promise<CheckpointView>;
  rollback(name: string, id: string, options?: { restart?: boolean }): Promise<void>;
  pinCheckpoint(name: string, id: string, pinned: boolean): Promise<void>;
  deleteCheckpoint(name: string, id: string): Promise<void>;
  // Switch to the rescue VM (stop the controller, start rescue), recording the reason.
  rescue(reason: string): Promise<RescueState>;
  rescueState(): RescueState;
  // Unpacks the image and starts it in a microVM; resolves once it runs (its output is the console log, its exit code
  // the result).
  runContainer(request: ContainerRequest): Promise<VmView>;
  // The host's networks and routers (a VPN network with its tunnel's state).
  networks(): NetworksView;
  // Takes a VPN network's tunnel down and up again in its router (the kill switch holds throughout).
  restartTunnel(network: string): Promise<NetworkView>;
  // A VM's links: addresses, rules, forwards, counters.
  vmNet(name: string): VmNetView[];
  // Replaces a VM's rules (checked, loaded by its running router in one transaction, kept across restarts).
  setRules(name: string, rules: unknown): Promise<VmNetView[]>;
  // The onion call-home; undefined when the host publishes none (a host without one may leave these out).
  onion?(): OnionView | undefined;
  // Enrols a client of the onion service by its x25519 public key; `by` is who did it (for the list and the audit).
  addOnionClient?(name: unknown, publicKey: unknown, by: string): Promise<OnionView>;
  // Revokes a client: the gateway's Tor restarts without it.
  removeOnionClient?(name: string): Promise<OnionView>;
}
