// The secrets channel against a stand-in for QEMU's end of the port (a unix socket server, as the chardev is): one
// answer a line in the order asked, an endless line dropped whole, and the agent back after the socket closes.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChannelHandler, serveSecrets } from './channel.ts';

// Answers slowly for `slow`, at once otherwise: the order must still be the lines'.
const handle: ChannelHandler = async (line) => {
  if (line === 'slow') await new Promise((resolve) => setTimeout(resolve, 50));
  return `ANSWER ${line}`;
};

function nextLines(peer: Socket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    let data = '';
    const take = (chunk: Buffer) => {
      data += chunk.toString();
      const lines = data.split('\n');
      if (lines.length > count) {
        peer.off('data', take);
        resolve(lines.slice(0, count));
      }
    };
    peer.on('data', take);
  });
}

test('answers in order, an endless line dropped whole, a flood cut off, a new connection after each close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-secrets-'));
  const path = join(dir, 'secrets.sock');
  const peers: Socket[] = [];
  let arrived: (peer: Socket) => void = () => undefined;
  const server: Server = createServer((peer) => {
    peers.push(peer);
    arrived(peer);
  });
  const connected = () => new Promise<Socket>((resolve) => (arrived = resolve));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const first = connected();
  const channel = serveSecrets(path, handle);
  try {
    const peer = await first;
    let answer = nextLines(peer, 2);
    peer.write('sl');
    peer.write('ow\nfast\r\n');
    assert.equal(await answer, ['ANSWER slow', 'ANSWER fast']);
    answer = nextLines(peer, 2);
    peer.write('x'.repeat(20_000));
    peer.write('GET db\nnext\n');
    assert.equal(await answer, ['NO the request is too long', 'ANSWER next']);
    // A guest that asks faster than answers can be made is cut off; the agent comes back on a new connection.
    const cut = new Promise((resolve) => peer.once('close', resolve));
    const reconnected = connected();
    peer.write('slow\n'.repeat(40));
    await cut;
    const peerAfterFlood = await reconnected;
    const second = connected();
    peerAfterFlood.destroy();
    const again = await second;
    answer = nextLines(again, 1);
    again.write('again\n');
    assert.equal(await answer, ['ANSWER again']);
  } finally {
    channel.stop();
    for (const peer of peers) peer.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
