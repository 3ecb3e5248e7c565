// An operator's side of the fleet: connect to the broker with the operator's nkey, make the status bucket and the
// events stream, list every host's status (stale ones marked by the broker's own clock), read the events, and run a
// jail command on a host by request and reply.
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { type ConnectionOptions, connect, type NatsConnection, nkeyAuthenticator } from '@nats-io/transport-node';
import { FailureError } from '../../common/errors.ts';
import { fleetConnectOptions } from '../../common/fleet/connection.ts';
import {
  type FleetCommandAnswer,
  type FleetEvent,
  type FleetStatus,
  isFleetStatus,
  printable,
} from '../../common/fleet/status.ts';
import {
  commandSubject,
  EVENTS_STREAM,
  EVENTS_SUBJECTS,
  eventsSubject,
  inboxPrefix,
  STATUS_BUCKET,
} from '../../common/fleet/subjects.ts';

// How the fleet's bucket and stream are made.
export interface FleetSetup {
  // A status older than this (by the broker's clock) is gone from the bucket.
  maxAgeSeconds: number;
  replicas: number;
  eventsDays: number;
}

// A host's status as `fleet ls` shows it: the document, how old it is, and whether it is stale.
export interface FleetHost {
  status: FleetStatus;
  ageSeconds: number;
  stale: boolean;
}

const NANOS = 1_000_000_000;

// Connects as operator `name`; a broker that does not answer in `timeoutMs` is an error that says so.
export async function connectOperator(
  servers: string[],
  name: string,
  seed: Uint8Array,
  options: { caFile?: string; timeoutMs?: number } = {},
): Promise<NatsConnection> {
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    return await connect({
      ...(fleetConnectOptions(servers, options.caFile ? { caFile: options.caFile } : {}) as ConnectionOptions),
      authenticator: nkeyAuthenticator(seed),
      inboxPrefix: inboxPrefix('operator', name),
      name: `mvos-operator-${name}`,
      timeout: timeoutMs,
      maxReconnectAttempts: 3,
    });
  } catch (error) {
    throw new FailureError(`no fleet broker answered at ${servers.join(', ')}: ${(error as Error).message}`);
  }
}

// Makes (or updates) the status bucket and the events stream.
export async function setupFleet(nc: NatsConnection, setup: FleetSetup): Promise<void> {
  const jsm = await jetstreamManager(nc);
  // The bucket is the stream a key-value client would make (`@nats-io/kv` opens it as it is), made here with its
  // final settings in one step. A host may publish its own key, and a message can carry headers: with roll-ups
  // allowed, `Nats-Rollup: all` on its own key would purge every host's status, so the bucket takes none, and no purge
  // or delete through the API either. Made in one step because Debian 12's nats-server 2.9.10 crashes on restart while
  // it replays a later update that turned `deny_delete` on (its node never comes back: the fleet test found it).
  const bucket = {
    name: `KV_${STATUS_BUCKET}`,
    subjects: [`$KV.${STATUS_BUCKET}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs_per_subject: 1,
    max_age: setup.maxAgeSeconds * NANOS,
    num_replicas: setup.replicas,
    allow_direct: true,
    allow_rollup_hdrs: false,
    deny_delete: true,
    deny_purge: true,
    description: 'Multiverse fleet: each host keeps its status here',
  };
  const had = await jsm.streams.info(bucket.name).catch(() => undefined);
  if (had && (had.config.allow_rollup_hdrs || !had.config.deny_delete || !had.config.deny_purge))
    throw new FailureError(`the fleet's bucket ${bucket.name} allows roll-ups, deletes or purges`, {
      hint: `a bucket made by an older mvos: delete it (nats stream rm ${bucket.name}) and run mvos fleet setup again; the hosts put their status again within seconds`,
    });
  if (!had) await jsm.streams.add(bucket);
  else if (had.config.max_age !== bucket.max_age || had.config.num_replicas !== bucket.num_replicas)
    await jsm.streams.update(bucket.name, {
      ...had.config,
      max_age: bucket.max_age,
      num_replicas: bucket.num_replicas,
    });
  const config = {
    name: EVENTS_STREAM,
    subjects: [EVENTS_SUBJECTS],
    num_replicas: setup.replicas,
    max_age: setup.eventsDays * 86_400 * NANOS,
    max_msgs_per_subject: 100_000,
    max_msg_size: 4096,
    description: 'Multiverse fleet: every host event',
  };
  const existing = await jsm.streams.info(EVENTS_STREAM).catch(() => undefined);
  if (existing) await jsm.streams.update(EVENTS_STREAM, config);
  else await jsm.streams.add(config);
}

// JetStream answers nothing for a few seconds while a stream elects a new leader (a broker node just went away or came
// back): a read is tried again then, a few times, before its timeout is the answer.
async function retried<T>(read: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const message = (error as Error).message;
      if (!/timeout|no responders/i.test(message)) throw error;
      if (attempt >= attempts)
        throw new FailureError(`the fleet's streams did not answer (${attempts} tries): ${message}`, {
          hint: 'a broker node that just went away or came back leaves JetStream electing leaders for a while; try again, and check that most of the cluster is up',
        });
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

// Every host in the bucket, by name; stale when the broker stored its last status more than `staleSeconds` ago. A
// document that is not a status, or names another host than its key, is not believed: its key is listed apart.
export function listHosts(
  nc: NatsConnection,
  staleSeconds: number,
  now = Date.now(),
): Promise<{ hosts: FleetHost[]; unreadable: string[] }> {
  return retried(() => readHosts(nc, staleSeconds, now));
}

async function readHosts(
  nc: NatsConnection,
  staleSeconds: number,
  now: number,
): Promise<{ hosts: FleetHost[]; unreadable: string[] }> {
  // One pass over the bucket's stream, the last message of each key: a thousand hosts are one consumer, not a
  // thousand requests.
  const stream = `KV_${STATUS_BUCKET}`;
  // By key: hosts keep putting while this reads, so a key can come twice; the newer message is the one kept.
  const byKey = new Map<string, FleetHost | undefined>();
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  if (info.state.messages === 0) return { hosts: [], unreadable: [] };
  const consumer = await jetstream(nc).consumers.get(stream, {
    deliver_policy: 'last_per_subject' as never,
    filter_subjects: `$KV.${STATUS_BUCKET}.>`,
  });
  // Until every key there was when it began has come (a key put again meanwhile comes later, under a new sequence), or
  // nothing more is pending, or 10 s: puts that keep coming must not keep the read going.
  const keys = info.state.num_subjects ?? Number.POSITIVE_INFINITY;
  if ((await consumer.info()).num_pending === 0) return { hosts: [], unreadable: [] };
  const until = Date.now() + 10_000;
  const messages = await consumer.consume();
  for await (const message of messages) {
    const key = message.subject.slice(`$KV.${STATUS_BUCKET}.`.length);
    if (message.headers?.get('KV-Operation')) byKey.delete(key);
    else {
      let doc: unknown;
      try {
        doc = message.json();
      } catch {
        doc = undefined;
      }
      // The key is the host the broker let publish it.
      if (isFleetStatus(doc) && doc.host === key) {
        const stored = Number(message.info.timestampNanos) / 1e6;
        const ageSeconds = Math.max(0, Math.round((now - stored) / 1000));
        byKey.set(key, { status: doc, ageSeconds, stale: ageSeconds > staleSeconds });
      } else byKey.set(key, undefined);
    }
    if (byKey.size >= keys || message.info.pending === 0 || Date.now() > until) break;
  }
  await messages.close().catch(() => undefined);
  const hosts = [...byKey.values()].filter((h): h is FleetHost => h !== undefined);
  const unreadable = [...byKey].filter(([, h]) => h === undefined).map(([key]) => key);
  return { hosts: hosts.sort((a, b) => (a.status.host < b.status.host ? -1 : 1)), unreadable: unreadable.sort() };
}

// An event as the stream holds it, believed only as far as the broker vouches: the host is the one whose subject it was
// published on (a host may publish only its own), the fields are checked and bounded.
function eventOf(subject: string, data: Uint8Array): FleetEvent | undefined {
  const host = /^fleet\.([a-z][a-z0-9-]{0,62})\.events$/.exec(subject)?.[1];
  if (!host) return undefined;
  try {
    const e = JSON.parse(new TextDecoder().decode(data)) as Partial<FleetEvent>;
    if (typeof e.at !== 'string' || typeof e.kind !== 'string' || typeof e.text !== 'string') return undefined;
    return { host, at: printable(e.at, 40), kind: printable(e.kind, 40), text: printable(e.text, 1000) };
  } catch {
    return undefined;
  }
}

// The events so far (of one host, or all), oldest first; with `follow`, then each new one until `signal` aborts.
export async function* fleetEvents(
  nc: NatsConnection,
  options: { host?: string; follow?: boolean; last?: number; signal?: AbortSignal } = {},
): AsyncGenerator<FleetEvent> {
  const js = jetstream(nc);
  const filter = options.host ? eventsSubject(options.host) : EVENTS_SUBJECTS;
  const { consumer, pending } = await retried(async () => {
    const info = await (await jetstreamManager(nc)).streams.info(EVENTS_STREAM);
    const start = Math.max(info.state.first_seq, info.state.last_seq - (options.last ?? 1000) + 1);
    const made = await js.consumers.get(EVENTS_STREAM, {
      filter_subjects: filter,
      ...(options.last !== undefined ? { opt_start_seq: start, deliver_policy: 'by_start_sequence' as never } : {}),
    });
    return { consumer: made, pending: (await made.info()).num_pending };
  });
  // Nothing of this host (or nothing at all) to read: done at once, not a wait for an event that may never come.
  if (!options.follow && pending === 0) return;
  const messages = await consumer.consume();
  options.signal?.addEventListener('abort', () => void messages.stop());
  for await (const message of messages) {
    const event = eventOf(message.subject, message.data);
    if (event) yield event;
    if (!options.follow && message.info.pending === 0) break;
  }
  await messages.close().catch(() => undefined);
}

// Runs one jail command on `host` as `operator`; the host answers with what the SSH jail would print.
export async function runOnHost(
  nc: NatsConnection,
  operator: string,
  host: string,
  command: string,
  timeoutMs = 30_000,
): Promise<FleetCommandAnswer> {
  try {
    const reply = await nc.request(commandSubject(host, operator), JSON.stringify({ command }), { timeout: timeoutMs });
    return reply.json<FleetCommandAnswer>();
  } catch (error) {
    throw new FailureError(`${host} did not answer: ${(error as Error).message}`, {
      hint: 'is the host up and connected? `mvos fleet ls` says when it last reported',
    });
  }
}
