// The TCP listener's defences against connection floods: caps per source and in total, and timeouts for slow or silent
// clients. Unguarded, 250 sockets that never finished their headers held 250 file descriptors and made the agent's own
// file reads fail.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ConnectionLimiter, type ConnectionPolicy } from '../auth/connections.ts';

// The caps and timeouts of the TCP API.
export interface HttpLimits {
  // Open connections per source (IPv4 address or IPv6 /64); a browser opens about six.
  perSource: number;
  // Open connections from every non-local source together; loopback (127.0.0.1, ::1) is counted apart.
  maxConnections: number;
  // From connecting to the end of the request headers (a slowloris client is cut here, silent ones too).
  headersTimeoutMs: number;
  // From connecting to the end of the request body.
  requestTimeoutMs: number;
  // No byte either way for this long closes the socket, except while a handler works on its answer (a VM start waits
  // for the guest); console streams send a heartbeat every 15 s.
  idleTimeoutMs: number;
  // An idle keep-alive connection between requests.
  keepAliveTimeoutMs: number;
  local?: ConnectionPolicy['local'];
}

// The defaults: 16 per source, 128 in all, headers in 10 s, a request in 30 s, 60 s idle, 5 s between requests.
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  perSource: 16,
  maxConnections: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
};

const bodyDeadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>();

// A request whose body has not all arrived by then is cut (its socket closed).
function setBodyDeadline(req: IncomingMessage, ms: number): void {
  clearTimeout(bodyDeadlines.get(req));
  if (req.complete) return;
  const timer = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, ms);
  timer.unref();
  bodyDeadlines.set(req, timer);
  req.once('end', () => clearTimeout(timer));
}

// Gives a request (a bundle upload) longer than the listener's request deadline for its body, from now; silence on the
// socket is still cut by the idle timeout.
export function extendBodyDeadline(req: IncomingMessage, ms: number): void {
  if (bodyDeadlines.has(req)) setBodyDeadline(req, ms);
}

// Node checks header and request deadlines on a timer (30 s by default), so a deadline is only as sharp as this
// interval.
const MAX_CHECK_INTERVAL_MS = 1000;

// Applies the limits to an HTTP or HTTPS server before it listens; a refused connection is closed at once (before any
// TLS handshake).
export function guardServer(
  server: Server,
  limits: Partial<HttpLimits> = {},
  onRefused: (address: string) => void = () => undefined,
): void {
  const l = { ...DEFAULT_HTTP_LIMITS, ...limits };
  const limiter = new ConnectionLimiter({
    perSource: l.perSource,
    maxConnections: l.maxConnections,
    ...(l.local ? { local: l.local } : {}),
  });
  server.headersTimeout = l.headersTimeoutMs;
  // The whole-request deadline is kept per request below (Node's is one for the server), so that a route that takes a
  // large upload can lengthen its own.
  server.requestTimeout = 0;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.timeout = l.idleTimeoutMs;
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
    MAX_CHECK_INTERVAL_MS,
    l.headersTimeoutMs,
  );
  server.on('connection', (socket) => {
    const release = limiter.admit(socket.remoteAddress);
    if (!release) {
      onRefused(socket.remoteAddress ?? '');
      socket.destroy();
      return;
    }
    socket.once('close', release);
  });
  // With a listener here Node leaves idle sockets to us: a handler still working is waited for, anything else (a client
  // that stopped reading, a silent socket) is closed. The socket's timer starts again with its next byte.
  const answering = new WeakMap<Socket, ServerResponse>();
  // Before the route's listener, which may lengthen the body's deadline as it starts.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    answering.set(req.socket, res);
    setBodyDeadline(req, l.requestTimeoutMs);
    res.once('close', () => clearTimeout(bodyDeadlines.get(req)));
  });
  server.on('timeout', (socket: Socket) => {
    const res = answering.get(socket);
    if (res && !res.headersSent && !res.writableEnded) return;
    socket.destroy();
  });
}
