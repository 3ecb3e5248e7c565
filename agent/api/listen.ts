// The API's TCP listener: `host:port` from host config agent.apiListen, plain HTTP or HTTPS when given a key and
// certificate.
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { UserError } from '../../common/errors.ts';
import { listenOn } from '../listeners/failure.ts';
import { closeServer } from './socket.ts';

// A TCP address to listen on.
export interface ListenAddress {
  host: string;
  port: number;
}

// A listening TCP API: its URL (with the port actually bound) and how to close it.
export interface ApiTcp {
  url: string;
  secure: boolean;
  // The certificate served over TLS from host config agent.apiTls (absent: plain HTTP, or a key and certificate handed
  // in by a test).
  certificate?: { source: 'key-folder' | 'self-signed'; file: string; fingerprint: string };
  close: () => Promise<void>;
}

// The PEM key and certificate for HTTPS.
export interface TlsFiles {
  key: string | Buffer;
  cert: string | Buffer;
}

// Parses `127.0.0.1:8443`, `[::1]:8443` or `0.0.0.0:80`; a host name is refused (it could resolve anywhere).
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || !host || !isIP(host) || port > 65535) {
    throw new UserError(`agent.apiListen must be IP:PORT, e.g. 127.0.0.1:8443 or [::1]:8443 (got "${text}")`, {
      hint: 'set agent.apiListen in the host recipe',
    });
  }
  return { host, port };
}

// Listens on the address; the returned URL carries the bound port (port 0 picks a free one).
export async function listenTcp(
  address: ListenAddress,
  listener: RequestListener,
  tls?: TlsFiles,
  prepare?: (server: Server) => void,
): Promise<ApiTcp> {
  const server: Server = tls
    ? createHttpsServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, listener)
    : createHttpServer(listener);
  // Caps and timeouts go on before the first connection can arrive.
  prepare?.(server);
  await listenOn(server, address, 'api', 'agent.api.listen');
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return { url: `${tls ? 'https' : 'http'}://${host}:${port}`, secure: Boolean(tls), close: () => closeServer(server) };
}
