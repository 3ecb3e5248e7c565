import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AgentStatus, writeStatus } from './status.ts';

test('status writes made at once all succeed and the last one made is the one on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-status-'));
  try {
    const base = { state: 'ready' } as unknown as AgentStatus;
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeStatus(dir, { ...base, pid: i })));
    assert.is(JSON.parse(await readFile(join(dir, 'status.json'), 'utf8')).pid, 19);
    assert.equal(await readdir(dir), ['status.json'], 'no temporary file left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
