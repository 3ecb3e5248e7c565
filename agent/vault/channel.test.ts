// The secrets channel against a stand-in for QEMU's end of the port (a unix socket server, as the chardev is): one
// answer a line, only well-formed requests reach the vault, an endless line is dropped whole, and the agent comes back
// after the socket closes.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { answerLine, type SecretSource, serveSecrets } from './channel.ts';

const asked: string[] = [];
const source: SecretSource = (name) => {
  asked.push(name);
  return name === 'db'
    ? { ok: true, secret: 'pä55 word\nline two' }
    : { ok: false, reason: 'no such secret for this VM' };
};

test('a request line gets one answer; anything but GET NAME never reaches the vault', () => {
  asked.length = 0;
  assert.is(answerLine('GET db', source), `OK ${Buffer.from('pä55 word\nline two').toString('base64')}`);
  assert.is(answerLine('GET db\r', source), answerLine('GET db', source));
  assert.is(answerLine('GET other', source), 'NO no such secret for this VM');
  for (const bad of ['GET', 'GET ../etc', 'GET Db', 'get db', 'GET db extra', `GET ${'a'.repeat(65)}`, ''])
    assert.is(answerLine(bad, source), 'NO requests are GET NAME', bad);
  assert.equal(asked, ['db', 'db', 'db', 'other']);
});

function nextLine(peer: Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const take = (chunk: Buffer) => {
      data += chunk.toString();
      if (data.includes('\n')) {
        peer.off('data', take);
        resolve(data.slice(0, data.indexOf('\n')));
      }
    };
    peer.on('data', take);
  });
}

test('over the socket: answers, an endless line dropped whole, and a new connection after the old one closes', async () => {
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
  const channel = serveSecrets(path, source);
  try {
    const peer = await first;
    let answer = nextLine(peer);
    peer.write('GET d');
    peer.write('b\n');
    assert.is(await answer, `OK ${Buffer.from('pä55 word\nline two').toString('base64')}`);
    answer = nextLine(peer);
    peer.write('x'.repeat(5000));
    peer.write('GET db\n');
    assert.is(await answer, 'NO the request is too long');
    const second = connected();
    peer.destroy();
    const again = await second;
    answer = nextLine(again);
    again.write('GET other\n');
    assert.is(await answer, 'NO no such secret for this VM');
  } finally {
    channel.stop();
    for (const peer of peers) peer.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
