import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, scrub } from './audit.ts';

test('entries are appended as JSON lines with their time, file 0600', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-audit-'));
  try {
    const log = new AuditLog(dir, () => new Date('2026-01-02T03:04:05.000Z'));
    await log.record({ who: 'alice', source: '10.0.0.1', action: 'login', result: 'ok' });
    await log.record({ who: 'alice', source: '10.0.0.1', action: 'exec', target: 'vm start web', result: 'refused', reason: 'unknown VM' });
    await log.close();
    const again = new AuditLog(dir);
    await again.record({ who: 'bob', source: '10.0.0.2', action: 'login', result: 'refused' });
    await again.close();
    const lines = (await readFile(log.file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0], { time: '2026-01-02T03:04:05.000Z', who: 'alice', source: '10.0.0.1', action: 'login', result: 'ok' });
    assert.is(lines[1].reason, 'unknown VM');
    assert.is(lines[2].who, 'bob');
    assert.is((await stat(log.file)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a logged attempt never contains the code, password or secret, at any depth', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-audit-'));
  try {
    const log = new AuditLog(dir);
    await log.record({
      who: 'alice', source: '10.0.0.1', action: 'login', result: 'refused', reason: 'wrong-code',
      code: '287082', otp: '287082', otpCode: '287082', password: 'hunter2', passwd: 'hunter2', secret: 'GEZDGNBV',
      responses: ['287082'], privateKey: 'PRIVATE', detail: { token: 'tok', nested: [{ answer: '287082' }], method: 'keyboard-interactive' },
    });
    await log.close();
    const text = await readFile(log.file, 'utf8');
    for (const leak of ['287082', 'hunter2', 'GEZDGNBV', 'tok"', 'PRIVATE']) assert.not.ok(text.includes(leak), leak);
    assert.equal(JSON.parse(text).detail, { nested: [{}], method: 'keyboard-interactive' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('scrub keeps ordinary fields', () => {
  assert.equal(scrub({ who: 'a', action: 'exec', fingerprint: 'SHA256:x', exit: 2 }), { who: 'a', action: 'exec', fingerprint: 'SHA256:x', exit: 2 });
});

test.run();
