import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type PeerCertificate, connect as tlsConnect } from 'node:tls';
import { connect } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeSelfSigned } from '../self-signed.test-support.ts';
import { withTempDir } from '../temp-dir.ts';
import { fleetConnectOptions } from './connection.ts';

type Check = (host: string, cert: PeerCertificate) => Error | undefined;

test('a tls:// broker always gets a tls option (with the CA when given); a loopback nats:// one none', () => {
  const direct = fleetConnectOptions(['tls://nats1.example.net:4222']);
  assert.equal(direct.servers, ['tls://nats1.example.net:4222']);
  assert.equal(Object.keys(direct.tls!), ['checkServerIdentity']);
  assert.is(
    fleetConnectOptions(['tls://nats1.example.net:4222'], { caFile: '/etc/mvos/fleet-ca.crt' }).tls?.caFile,
    '/etc/mvos/fleet-ca.crt',
  );
  assert.equal(fleetConnectOptions(['nats://127.0.0.1:4222']), { servers: ['nats://127.0.0.1:4222'] });
});

test("through a router: each broker's own loopback endpoint, in order, its port kept, and no gossip followed", () => {
  const options = fleetConnectOptions(['tls://Nats1.Example.net:4222', 'tls://192.0.2.7:7422'], { via: true });
  assert.equal(options.servers, ['tls://127.77.0.1:4222', 'tls://127.77.0.2:7422']);
  assert.is(options.ignoreClusterUpdates, true);
  assert.type(options.tls?.checkServerIdentity, 'function');
});

// A server that offers no TLS (as a man in the middle would): it says INFO and records what the client sends.
async function plainServer(): Promise<{ port: number; received: () => string; close: () => void }> {
  let received = '';
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.write('INFO {"server_id":"MITM","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true}\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    received: () => received,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a server that offers no TLS is refused, where nats.js alone would have sent it CONNECT in the clear', async () => {
  const mitm = await plainServer();
  try {
    const url = `tls://127.0.0.1:${mitm.port}`;
    const refused = await connect({ ...fleetConnectOptions([url]), timeout: 2000, maxReconnectAttempts: 0 }).then(
      () => 'connected',
      (error: Error) => error.message,
    );
    assert.match(refused, "does not support 'tls'");
    assert.not.match(mitm.received(), 'CONNECT', 'nothing was sent in the clear');
    // The same URL without the option: the scheme alone does not stop the client.
    const bare = await connect({ servers: [url], timeout: 2000, maxReconnectAttempts: 0 }).then(
      (nc) => nc.close().then(() => 'connected'),
      (error: Error) => error.message,
    );
    assert.match(mitm.received(), 'CONNECT {', `nats.js alone went on in the clear (${bare})`);
  } finally {
    mitm.close();
  }
});

test("a broker's certificate must name one of the brokers, whatever address was dialled (through a router, a loopback one)", () =>
  withTempDir('mvos-fleet-tls-', async (dir) => {
    const files = { key: join(dir, 'n1.key'), cert: join(dir, 'n1.crt') };
    writeSelfSigned(files, '/CN=nats1.example.net', 'DNS:nats1.example.net');
    const server = createTlsServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.77.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    // As nats.js upgrades its socket: no name given to TLS (Node alone would check "localhost").
    const handshake = (servers: string[], via = true) =>
      new Promise<string>((resolve) => {
        const check = fleetConnectOptions(servers, { via }).tls!.checkServerIdentity as Check;
        const plain = netConnect(port, '127.77.0.1');
        const socket = tlsConnect({ socket: plain, ca: readFileSync(files.cert), checkServerIdentity: check });
        socket.on('secureConnect', () => {
          socket.destroy();
          resolve('verified');
        });
        socket.on('error', (error) => resolve(error.message));
      });
    try {
      assert.is(await handshake([`tls://nats1.example.net:${port}`]), 'verified');
      assert.is(await handshake(['tls://nats2.example.net:4222', `tls://nats1.example.net:${port}`]), 'verified');
      assert.is(await handshake([`tls://192.0.2.1:${port}`, `tls://nats1.example.net:${port}`], false), 'verified');
      assert.match(await handshake([`tls://nats9.example.net:${port}`]), "does not match certificate's altnames");
      assert.match(await handshake([`tls://192.0.2.1:${port}`], false), "IP: 192.0.2.1 is not in the cert's list");
    } finally {
      server.close();
    }
  }));

test.run();
