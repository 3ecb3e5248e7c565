// A free loopback TCP port for a test's server: bound, then let go, so the server binds it next.
import { createServer } from 'node:net';

// The port.
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
