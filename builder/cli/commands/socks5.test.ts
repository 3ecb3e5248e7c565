import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../../common/errors.ts';
import { socksConnect } from './socks5.ts';

// A SOCKS5 proxy that answers CONNECT with `reply` (0: granted, then it echoes) and records what it was asked.
async function proxy(reply: number): Promise<{ server: Server; port: number; asked: string[] }> {
  const asked: string[] = [];
  const server = createServer((socket: Socket) => {
    let stage = 0;
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 0 && buffer.length >= 3) {
        buffer = buffer.subarray(3);
        socket.write(Buffer.from([5, 0]));
        stage = 1;
      }
      if (stage === 1 && buffer.length >= 5 && buffer.length >= 7 + buffer[4]!) {
        const length = buffer[4]!;
        const host = buffer.subarray(5, 5 + length).toString();
        const port = buffer.readUInt16BE(5 + length);
        asked.push(`${buffer[3]} ${host}:${port}`);
        buffer = buffer.subarray(7 + length);
        // A reply with a domain as its bound address, then (granted) the first bytes of the connection at once.
        const bound = Buffer.from([5, reply, 0, 3, 4, ...Buffer.from('none'), 0, 0]);
        socket.write(reply === 0 ? Buffer.concat([bound, Buffer.from('hello ')]) : bound);
        if (reply !== 0) socket.end();
        stage = 2;
      } else if (stage === 2) {
        socket.write(buffer);
        buffer = Buffer.alloc(0);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, asked };
}

const ONION = `${'a'.repeat(56)}.onion`;

test('CONNECT by name (the proxy resolves it); bytes after the reply belong to the connection', async () => {
  const p = await proxy(0);
  try {
    const socket = await socksConnect({ host: '127.0.0.1', port: p.port }, ONION, 80);
    assert.equal(p.asked, [`3 ${ONION}:80`], 'address type 3: a domain name, never resolved here');
    socket.write('world');
    const text = await new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (chunk) => {
        got += chunk;
        if (got.length >= 11) resolve(got);
      });
    });
    assert.is(text, 'hello world');
    socket.destroy();
  } finally {
    p.server.close();
  }
});

test("Tor's extended replies are named: a missing key, a refused key, no descriptor", async () => {
  for (const [code, words] of [
    [0xf4, 'needs client authorization and this Tor has no key for it'],
    [0xf5, 'refused this client'],
    [0xf0, 'descriptor not found'],
    [5, 'connection refused'],
  ] as const) {
    const p = await proxy(code);
    try {
      await socksConnect({ host: '127.0.0.1', port: p.port }, ONION, 22);
      assert.unreachable(`reply ${code} connected`);
    } catch (error) {
      assert.instance(error, FailureError);
      assert.match((error as Error).message, words);
    } finally {
      p.server.close();
    }
  }
});

test('no proxy, or not a SOCKS5 one: a failure that names --tor', async () => {
  const closed = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  try {
    for (const target of [port, 9]) {
      try {
        await socksConnect({ host: '127.0.0.1', port: target }, ONION, 80, 5000);
        assert.unreachable('connected');
      } catch (error) {
        assert.instance(error, FailureError);
        assert.match((error as FailureError).hint ?? '', '--tor');
      }
    }
  } finally {
    closed.close();
  }
});

test.run();
