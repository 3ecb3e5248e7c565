// The agent's link to its fleet: it connects out to the NATS broker with this host's nkey (so NAT is no obstacle),
// keeps its status document in the fleet's bucket, publishes its events, and answers operators' commands with the SSH
// jail's command set, each audited with the operator's name. A broker that is down never delays the agent: the link
// connects in the background, retries with back-off, keeps a bounded queue of events, and says how it stands.
import { readFile } from 'node:fs/promises';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type ConnectionOptions, connect, type NatsConnection, nkeyAuthenticator } from '@nats-io/transport-node';
import type { AgentStatus, FleetLinkView } from '../../common/api-types.ts';
import { UserError } from '../../common/errors.ts';
import { fleetConnectOptions } from '../../common/fleet/connection.ts';
import { type FleetEvent, fleetStatus, printable } from '../../common/fleet/status.ts';
import { eventsSubject, inboxPrefix, STATUS_BUCKET } from '../../common/fleet/subjects.ts';
import type { UpdateControls } from '../api/update-routes.ts';
import type { VaultControls } from '../api/vault-routes.ts';
import type { AuditLog } from '../auth/audit.ts';
import type { Controls } from '../controls.ts';
import { answerCommand } from './commands.ts';
import { statusEvents } from './events.ts';

// Reads this host's nkey seed (root-only in the image).
export async function readSeedFile(file: string): Promise<Uint8Array> {
  const text = (
    await readFile(file, 'utf8').catch((error: Error) => {
      throw new UserError(`the fleet seed ${file} does not read: ${error.message}`);
    })
  ).trim();
  if (!/^SU[A-Z2-7]{56}$/.test(text)) throw new UserError(`${file} does not hold a user nkey seed`);
  return new TextEncoder().encode(text);
}

// The most events kept while the broker is away; older ones are dropped first, and counted.
const MAX_QUEUED_EVENTS = 1000;

// What the link needs.
export interface FleetLinkOptions {
  servers: string[];
  host: string;
  seed: Uint8Array;
  // The CA of tls:// brokers (absent: the system's).
  caFile?: string;
  // The router VM whose relays carry the connections (the brokers' loopback endpoints; absent: dialled directly).
  via?: string;
  // How often the status is put even when nothing changed (the bucket's readers judge staleness by it).
  intervalMs?: number;
  status: () => AgentStatus;
  controls: Controls;
  update?: UpdateControls;
  vault?: VaultControls;
  audit: AuditLog;
  log: (line: string) => void;
  // Called when the link's state changes (status.json shows it).
  onChange?: () => void;
  now?: () => Date;
}

// The running link.
export class FleetLink {
  private nc: NatsConnection | undefined;
  private kv: KV | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pendingPut: NodeJS.Timeout | undefined;
  private readonly queue: FleetEvent[] = [];
  private dropped = 0;
  private flushing = false;
  private closed = false;
  private last: AgentStatus | undefined;
  private stateView: FleetLinkView;

  private constructor(private readonly options: FleetLinkOptions) {
    this.stateView = { state: 'connecting', since: this.now().toISOString(), queuedEvents: 0, droppedEvents: 0 };
  }

  // Starts connecting in the background and returns at once.
  static start(options: FleetLinkOptions): FleetLink {
    const link = new FleetLink(options);
    void link.run();
    return link;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  view(): FleetLinkView {
    return { ...this.stateView, queuedEvents: this.queue.length, droppedEvents: this.dropped };
  }

  private become(state: FleetLinkView['state'], extra: Partial<FleetLinkView> = {}): void {
    const changed = this.stateView.state !== state;
    if (changed) this.options.log(`fleet: ${state}${extra.lastError ? ` (${extra.lastError})` : ''}`);
    this.stateView = { ...this.stateView, ...extra, state, since: this.now().toISOString() };
    if (changed) this.options.onChange?.();
  }

  // Connects and serves; a failure before it serves (refused credentials: the broker not yet told of this host) is
  // tried again with back-off, up to a minute apart, until it works or the link is closed.
  private async run(): Promise<void> {
    for (let wait = 2000; !this.closed; wait = Math.min(wait * 2, 60_000)) {
      try {
        await this.serve();
        return;
      } catch (error) {
        if (this.closed) return;
        this.become('disconnected', { lastError: (error as Error).message });
        await this.nc?.close().catch(() => undefined);
        this.nc = undefined;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async serve(): Promise<void> {
    const { servers, host, seed } = this.options;
    try {
      this.nc = await connect({
        ...(fleetConnectOptions(servers, {
          ...(this.options.caFile ? { caFile: this.options.caFile } : {}),
          via: this.options.via !== undefined,
        }) as ConnectionOptions),
        authenticator: nkeyAuthenticator(seed),
        inboxPrefix: inboxPrefix('host', host),
        name: `mvos-host-${host}`,
        // Keeps trying from the first connect on, forever, with back-off: the agent never waits for the broker.
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 2000,
        reconnectJitter: 1000,
        timeout: 5000,
        pingInterval: 10_000,
        maxPingOut: 3,
      });
    } catch (error) {
      throw new Error(`no broker took this host: ${(error as Error).message}`);
    }
    if (this.closed) return void this.nc.close();
    this.become('connected', { server: this.nc.getServer() });
    void this.watchConnection(this.nc);
    this.kv = await new Kvm(this.nc).open(STATUS_BUCKET);
    this.nc.subscribe(`fleet.${host}.cmd.*`, {
      callback: (error, message) => {
        if (error) return;
        const operator = message.subject.split('.').pop()!;
        // A request of that operator has its reply in that operator's own inbox; anything else (a message a stream
        // delivered, a publish without a reply) is not a command of theirs.
        if (!message.reply?.startsWith(`${inboxPrefix('operator', operator)}.`)) return;
        void answerCommand(message.data, operator, this.options)
          .then((answer) => message.respond(JSON.stringify(answer)))
          .catch((err: Error) => this.options.log(`fleet: a command of ${operator} got no answer: ${err.message}`));
      },
    });
    this.event('agent', `agent ${this.options.status().host.version} up, linked to the fleet`);
    this.putStatus();
    this.timer = setInterval(() => this.putStatus(), this.options.intervalMs ?? 5000);
  }

  private async watchConnection(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.become('disconnected', { lastError: 'the broker went away' });
      else if (s.type === 'reconnect') {
        this.become('connected', { server: nc.getServer() });
        this.putStatus();
      } else if (s.type === 'error') this.stateView = { ...this.stateView, lastError: String(s.error) };
    }
  }

  // The agent's status changed: its events are queued and the document is put soon (changes in a burst put once).
  changed(): void {
    const next = this.options.status();
    for (const event of statusEvents(this.last, next)) this.event(event.kind, event.text);
    this.last = next;
    if (this.pendingPut || this.closed) return;
    this.pendingPut = setTimeout(() => {
      this.pendingPut = undefined;
      this.putStatus();
    }, 500);
  }

  private putStatus(): void {
    if (!this.kv || this.stateView.state !== 'connected') return;
    const document = fleetStatus(this.options.status(), this.options.host, this.now());
    this.kv.put(this.options.host, JSON.stringify(document)).catch((error: Error) => {
      this.stateView = { ...this.stateView, lastError: `status not stored: ${error.message}` };
    });
    void this.flush();
  }

  // Queues one event (the oldest goes when the queue is full) and sends what is queued when connected.
  event(kind: string, text: string): void {
    if (this.closed) return;
    this.queue.push({ host: this.options.host, at: this.now().toISOString(), kind, text: printable(text, 1000) });
    if (this.queue.length > MAX_QUEUED_EVENTS) {
      this.queue.shift();
      this.dropped += 1;
    }
    void this.flush();
  }

  private async flush(): Promise<void> {
    if (this.flushing || !this.nc || this.stateView.state !== 'connected') return;
    this.flushing = true;
    try {
      const js = jetstream(this.nc);
      while (this.queue.length > 0 && this.stateView.state === 'connected') {
        await js.publish(eventsSubject(this.options.host), JSON.stringify(this.queue[0]), { timeout: 5000 });
        this.queue.shift();
      }
    } catch (error) {
      this.stateView = { ...this.stateView, lastError: `events wait: ${(error as Error).message}` };
    } finally {
      this.flushing = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pendingPut) clearTimeout(this.pendingPut);
    this.become('closed');
    await this.nc?.close().catch(() => undefined);
  }
}
