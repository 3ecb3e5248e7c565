// Interactive consoles over HTTP: a Server-Sent Events stream holds a broker session (output, keyboard changes) for as
// long as it is open; input and taking the keyboard are POSTs naming that session, CSRF-checked like every change.
import { randomBytes } from 'node:crypto';
import type { ConsoleSessionEvent } from '../../common/api-types.ts';
import type { AuditLog } from '../auth/audit.ts';
import { type ConsoleSession, MAX_INPUT_BYTES } from '../console/broker.ts';
import type { Controls } from '../controls.ts';
import { HttpError, SAFE_HEADERS } from './http.ts';
import { type Caller, jsonRoute, type Route, type RouteContext } from './router.ts';

// Console bytes a new live session gets before the output as it arrives.
export const LIVE_BACKLOG_BYTES = 64 * 1024;

const HEARTBEAT_MS = 15_000;

interface Held {
  session: ConsoleSession;
  owner: string;
  vm: string;
}

// Whose a console session is: one login session over TCP, root on the socket.
function ownerOf(caller: Caller): string {
  return caller.via === 'socket' ? 'socket' : `tcp:${caller.sessionId ?? ''}`;
}

// The console routes and the sessions their streams hold; the broker's audit lines (open, keyboard, takeover, close) go
// to `audit`.
export function consoleRoutes(controls: Controls, audit?: AuditLog): Route[] {
  const held = new Map<string, Held>();
  // A session id names a session of this login and of the VM in the path, or nothing: another login's or another VM's
  // session cannot be typed into, and which ids exist is not told.
  const find = (ctx: RouteContext): Held => {
    const id = ctx.body.session;
    const entry = typeof id === 'string' ? held.get(id) : undefined;
    if (!entry || entry.owner !== ownerOf(ctx.caller) || entry.vm !== ctx.params.name)
      throw new HttpError(404, 'no such console session here (open GET …/console/live first)');
    return entry;
  };
  return [
    {
      method: 'GET',
      path: '/api/vms/{name}/console/live',
      summary:
        'An interactive console session as Server-Sent Events: a `session` event (its id, the keyboard), the output' +
        ' (the last 64 KiB first), `keyboard` events',
      access: 'session',
      handle: async (ctx) => {
        const name = ctx.params.name!;
        if (!controls.getVm(name)) throw new HttpError(404, `no VM named "${name}"`);
        const viewer = {
          who: ctx.caller.user,
          source: ctx.caller.source,
          audit: (entry: Parameters<AuditLog['record']>[0]) => void audit?.record(entry).catch(() => undefined),
        };
        const session = controls.openConsole(name, viewer, { back: LIVE_BACKLOG_BYTES });
        const id = randomBytes(16).toString('hex');
        held.set(id, { session, owner: ownerOf(ctx.caller), vm: name });
        const { res, req } = ctx;
        res.writeHead(200, {
          ...SAFE_HEADERS,
          'content-type': 'text/event-stream; charset=utf-8',
          connection: 'keep-alive',
        });
        const event = (type: string, data: unknown): void =>
          void res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
        event('session', {
          id,
          vm: name,
          writer: session.writer,
          ...(session.holder ? { holder: session.holder } : {}),
        } satisfies ConsoleSessionEvent);
        const decoder = new TextDecoder('utf-8');
        session.onData((chunk) => {
          const text = decoder.decode(chunk, { stream: true });
          if (text) res.write(`data: ${JSON.stringify(text)}\n\n`);
        });
        session.onKeyboard((state) => event('keyboard', state));
        const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
        heartbeat.unref();
        await new Promise<void>((resolve) => {
          const end = (): void => {
            clearInterval(heartbeat);
            held.delete(id);
            session.close();
            resolve();
          };
          req.once('close', end);
          res.once('close', end);
        });
        return undefined;
      },
    },
    // The broker audits taking and taking over (who, which VM); the router's line would only repeat it.
    jsonRoute(
      'POST /api/vms/{name}/console/keyboard',
      {
        summary:
          'Take the keyboard for a live console session ({session, force}); while another session holds it only ' +
          'with force (that one is told)',
        access: 'session',
        selfAudited: true,
      },
      (ctx) => {
        const entry = find(ctx);
        const force =
          ctx.body.force === undefined
            ? false
            : ctx.body.force === true
              ? true
              : ctx.body.force === false
                ? false
                : undefined;
        if (force === undefined) throw new HttpError(400, '"force" must be true or false');
        entry.session.takeKeyboard(force);
        return { body: { writer: entry.session.writer, holder: entry.session.holder } };
      },
    ),
    // Not one audit line per keystroke batch: the session's opening, takeover and end are what is audited, never input.
    jsonRoute(
      'POST /api/vms/{name}/console/input',
      {
        summary: `Type into a VM's console ({session, data}: at most ${MAX_INPUT_BYTES} bytes of UTF-8, only from the session holding the keyboard; 429 past the rate limit)`,
        access: 'session',
        selfAudited: true,
      },
      async (ctx) => {
        const entry = find(ctx);
        const data = ctx.body.data;
        if (typeof data !== 'string') throw new HttpError(400, '"data" must be a string');
        const bytes = Buffer.from(data, 'utf8');
        if (bytes.length > MAX_INPUT_BYTES)
          throw new HttpError(413, `at most ${MAX_INPUT_BYTES} bytes of input at a time (got ${bytes.length})`);
        await entry.session.write(bytes);
        return { body: { sent: bytes.length } };
      },
    ),
  ];
}
