// The fleet's names on the broker (NATS with JetStream), shared by the agent that publishes and the CLI that reads:
// the status bucket, the events stream, each host's subjects, and what each kind of user may publish and subscribe to.
// The broker enforces those permissions, so a host's credentials reach only that host's own subjects.

// The key-value bucket of status documents, one key a host; its max age makes a dead host's entry go stale by itself.
export const STATUS_BUCKET = 'mvos-fleet';
// The stream of every host's events, read like a chat log.
export const EVENTS_STREAM = 'MVOS_FLEET_EVENTS';
// What the events stream takes.
export const EVENTS_SUBJECTS = 'fleet.*.events';

// A host id or operator name: lower-case, digits, dashes (a NATS subject token that cannot hold a wildcard or a dot).
export const FLEET_NAME = /^[a-z][a-z0-9-]{0,62}$/;

// Where a host's events go.
export function eventsSubject(host: string): string {
  return `fleet.${host}.events`;
}

// Where an operator's commands to a host go: the operator's name is in the subject, and the broker lets each operator
// publish only under their own, so the host knows who asks.
export function commandSubject(host: string, operator: string): string {
  return `fleet.${host}.cmd.${operator}`;
}

// The subject a status put is published on.
export function statusSubject(host: string): string {
  return `$KV.${STATUS_BUCKET}.${host}`;
}

// Each user's own reply subjects (acknowledgements, answers), so no one can read another's.
export function inboxPrefix(kind: 'host' | 'operator', name: string): string {
  return `_INBOX_${kind === 'host' ? 'h' : 'o'}_${name}`;
}

// What a NATS user may do, as nats-server's authorization block says it.
export interface FleetPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  allow_responses?: boolean;
}

// A host: its own status and events out, its own commands in, answers to them only.
export function hostPermissions(host: string): FleetPermissions {
  return {
    publish: { allow: [statusSubject(host), eventsSubject(host)] },
    subscribe: { allow: [`${inboxPrefix('host', host)}.>`, `fleet.${host}.cmd.*`] },
    allow_responses: true,
  };
}

// An operator: JetStream's API for the fleet's two streams only (read them; make and update them), commands under
// their own name. Not the whole API: a stream over another operator's inbox would read their answers.
export function operatorPermissions(operator: string): FleetPermissions {
  const streams = [`KV_${STATUS_BUCKET}`, EVENTS_STREAM];
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        ...streams.flatMap((stream) => [
          `$JS.API.STREAM.INFO.${stream}`,
          `$JS.API.STREAM.CREATE.${stream}`,
          `$JS.API.STREAM.UPDATE.${stream}`,
          `$JS.API.STREAM.MSG.GET.${stream}`,
          `$JS.API.DIRECT.GET.${stream}.>`,
          `$JS.API.DIRECT.GET.${stream}`,
          `$JS.API.CONSUMER.CREATE.${stream}.>`,
          `$JS.API.CONSUMER.CREATE.${stream}`,
          `$JS.API.CONSUMER.INFO.${stream}.>`,
          `$JS.API.CONSUMER.DELETE.${stream}.>`,
          `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
        ]),
        `fleet.*.cmd.${operator}`,
      ],
    },
    subscribe: { allow: [`${inboxPrefix('operator', operator)}.>`] },
  };
}
