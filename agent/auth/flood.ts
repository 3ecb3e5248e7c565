// Test code only: opens many raw TCP connections from one source address and counts which the server closed.
import { connect, type Socket } from 'node:net';

// A flood of connections: how many connected, how many the server closed, and the errors (EMFILE would show here).
export interface Flood {
  sockets: Socket[];
  connected: number;
  closedByServer: number;
  errors: string[];
  // Resolves once the server has closed at least `count`, or rejects after `ms`.
  closed(count: number, ms?: number): Promise<void>;
  end(): void;
}

// Opens `count` connections to 127.0.0.1:port from `from` (127.0.0.2… stand for other hosts), each sending `payload`
// and then nothing.
export async function flood(port: number, from: string, count: number, payload = ''): Promise<Flood> {
  let ending = false;
  const result: Flood = {
    sockets: [],
    connected: 0,
    closedByServer: 0,
    errors: [],
    closed: async (want, ms = 2000) => {
      const deadline = Date.now() + ms;
      while (result.closedByServer < want) {
        if (Date.now() > deadline)
          throw new Error(
            `the server closed ${result.closedByServer} of ${count} connections from ${from} (wanted ${want})`,
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    end: () => {
      ending = true;
      for (const socket of result.sockets) socket.destroy();
    },
  };
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port, localAddress: from });
          result.sockets.push(socket);
          let up = false;
          socket.on('connect', () => {
            up = true;
            result.connected += 1;
            if (payload) socket.write(payload);
            resolve();
          });
          socket.on('data', () => undefined);
          socket.on('error', (error: NodeJS.ErrnoException) => {
            // A reset after connecting is the server closing it; anything before (EMFILE, ECONNREFUSED) means the flood
            // never happened.
            if (!up || error.code !== 'ECONNRESET') result.errors.push(error.code ?? error.message);
            resolve();
          });
          socket.on('close', () => {
            if (!ending) result.closedByServer += 1;
          });
        }),
    ),
  );
  return result;
}
