// The update endpoints: status, a bundle uploaded as the request body (checked whole before the ESP changes), and a
// rollback on request.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { UpdateView } from '../../common/api-types.ts';
import { MAX_BUNDLE_BYTES } from '../../common/update/bundle.ts';
import type { UpdateService } from '../update/service.ts';
import { extendBodyDeadline } from './guard.ts';
import { HttpError } from './http.ts';
import { jsonRoute, type Route } from './router.ts';

// What the routes call.
export type UpdateControls = Pick<UpdateService, 'view' | 'apply' | 'rollback'>;

// How long one upload may take: a bundle is tens of MB, and a slow uplink (or Tor) moves it at tens of kB/s.
const UPLOAD_DEADLINE_MS = 60 * 60_000;

function updates(update: UpdateControls | undefined): UpdateControls {
  if (!update) throw new HttpError(404, 'this agent takes no updates');
  return update;
}

// ?reboot=no applies without rebooting; anything but yes or no is refused.
function rebootWanted(query: URLSearchParams): boolean {
  const value = query.get('reboot') ?? 'yes';
  if (value !== 'yes' && value !== 'no') throw new HttpError(400, 'reboot must be yes or no');
  return value === 'yes';
}

// The body's declared size: required, and at most a bundle's.
function declaredSize(req: IncomingMessage): number {
  const header = req.headers['content-length'];
  if (header === undefined) throw new HttpError(411, 'send the bundle with a Content-Length');
  const size = Number(header);
  if (!Number.isSafeInteger(size) || size <= 0) throw new HttpError(400, 'Content-Length is not a size');
  if (size > MAX_BUNDLE_BYTES) throw new HttpError(413, `a bundle is at most ${MAX_BUNDLE_BYTES} bytes`);
  return size;
}

// The rows.
export function updateRoutes(update: UpdateControls | undefined): Route[] {
  const session = { access: 'session' as const };
  return [
    jsonRoute(
      'GET /api/update',
      { ...session, summary: 'Updates: the A/B slots, their versions and verdicts, a health gate in progress' },
      // An agent without the service (a test fixture) answers that it takes none, so a page can ask without a 404.
      () => ({
        body: update
          ? update.view()
          : ({
              enabled: false,
              why: 'this agent takes no updates',
              version: '',
              slots: [],
              events: [],
            } satisfies UpdateView),
      }),
    ),
    jsonRoute(
      'POST /api/update',
      {
        ...session,
        streamBody: true,
        summary:
          'Apply an update bundle (the body, application/octet-stream): checked whole, written to the slot that did not' +
          ' boot, tried once at the next boot (?reboot=no: not now)',
      },
      async (ctx) => {
        const service = updates(update);
        const reboot = rebootWanted(ctx.query);
        const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/octet-stream')
          throw new HttpError(415, 'send the bundle as application/octet-stream');
        declaredSize(ctx.req);
        extendBodyDeadline(ctx.req, UPLOAD_DEADLINE_MS);
        // Through a stream of its own: a refused bundle ends the read, and the socket must stay to carry the reason.
        const body = new PassThrough();
        ctx.req.pipe(body);
        const applied = await service.apply(body, ctx.caller.user, reboot).finally(() => ctx.req.unpipe(body));
        ctx.auditDetail = `${applied.version} to slot ${applied.slot}${applied.rebooting ? ', rebooting' : ''}`;
        return { body: applied };
      },
    ),
    jsonRoute(
      'POST /api/update/rollback',
      { ...session, summary: 'Boot the other slot from now on (a version on trial is given up); ?reboot=no: not now' },
      async (ctx) => {
        const view = await updates(update).rollback(ctx.caller.user, rebootWanted(ctx.query));
        ctx.auditDetail = `to slot ${view.slots.find((s) => s.bootSlot)?.slot ?? '?'}`;
        return { body: view };
      },
    ),
  ];
}
