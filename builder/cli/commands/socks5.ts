// A SOCKS5 CONNECT by host name (RFC 1928), so that Tor resolves the name itself (an onion address resolves nowhere
// else), with Tor's extended replies named: whether an onion service wants a key this Tor lacks, or refused the one it
// has.
import { connect, type Socket } from 'node:net';
import { FailureError } from '../../../common/errors.ts';

// RFC 1928's replies and Tor's extensions for onion services, X'F0' to X'F7' (tor's socks-extensions.txt; SocksPort …
// ExtendedErrors).
const REPLIES: Record<number, string> = {
  1: 'general failure',
  2: 'not allowed by the proxy',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
  240: 'onion service descriptor not found: the address is wrong, the host is not online, or this client is not enrolled',
  241: 'onion service descriptor is invalid',
  242: 'onion service introduction failed',
  243: 'onion service rendezvous failed',
  244: 'the onion service needs client authorization and this Tor has no key for it (ClientOnionAuthDir)',
  245: "the onion service refused this client's key: it is not enrolled, or it was revoked",
  246: 'not a valid onion address',
  247: 'onion service introduction timed out',
};

// Reads exactly `size` bytes in paused mode: whatever the proxy sent after them stays in the socket for its next reader
// (the connection's first bytes).
function readExact(socket: Socket, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = socket.read(size) as Buffer | null;
      if (chunk) done(undefined, chunk);
    };
    const onEnd = () => done(new Error('the proxy closed the connection'));
    const done = (error?: Error, chunk?: Buffer) => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('error', done);
      if (error) reject(error);
      else resolve(chunk!);
    };
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('error', done);
    onReadable();
  });
}

// A CONNECT reply: its header, then the bound address its type announces (read and dropped), then the port.
async function readReply(socket: Socket): Promise<Buffer> {
  const header = await readExact(socket, 4);
  // A refusal is all there is to know (the proxy may close before the rest).
  if (header[1] !== 0) return header;
  const type = header[3];
  const rest = type === 1 ? 4 + 2 : type === 4 ? 16 + 2 : type === 3 ? (await readExact(socket, 1))[0]! + 2 : 0;
  if (rest === 0) throw new Error('the proxy sent a reply of an unknown address type');
  if (rest > 0) await readExact(socket, rest);
  return header;
}

// Why a proxy refused, in words.
export function socksReplyText(code: number): string {
  return REPLIES[code] ?? `SOCKS reply ${code}`;
}

// A connection to host:port through the SOCKS5 proxy (no authentication, the name resolved by the proxy); rejects with
// the proxy's reason.
export async function socksConnect(
  proxy: { host: string; port: number },
  host: string,
  port: number,
  timeoutMs = 120_000,
): Promise<Socket> {
  const name = Buffer.from(host);
  if (name.length === 0 || name.length > 255) throw new FailureError(`cannot ask a SOCKS proxy for "${host}"`);
  const socket = connect(proxy.port, proxy.host);
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(Buffer.from([5, 1, 0]));
    const method = await readExact(socket, 2);
    if (method[0] !== 5 || method[1] !== 0) throw new Error('the proxy wants authentication or is no SOCKS5 proxy');
    socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([port >> 8, port & 255])]));
    const reply = await readReply(socket);
    if (reply[0] !== 5) throw new Error('the proxy is no SOCKS5 proxy');
    if (reply[1] !== 0)
      throw new FailureError(`${host}:${port} through ${proxy.host}:${proxy.port}: ${socksReplyText(reply[1]!)}`, {
        hint:
          reply[1]! >= 0xf0
            ? '`mvos onion client add` enrols this machine; its Tor reads the key from ClientOnionAuthDir'
            : 'is the host online, and the proxy a Tor SocksPort?',
      });
    socket.setTimeout(0);
    return socket;
  } catch (error) {
    socket.destroy();
    if (error instanceof FailureError) throw error;
    throw new FailureError(
      `cannot reach ${host}:${port} through ${proxy.host}:${proxy.port}: ${(error as Error).message}`,
      {
        hint: "--tor names Tor's SocksPort, e.g. 127.0.0.1:9050",
      },
    );
  }
}
