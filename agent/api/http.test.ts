// Error mapping and body reading: ControlError kinds to 404/409/400, internal errors hidden, bodies bounded and typed.

import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlError } from '../controls.ts';
import { errorReply, HttpError, readJsonBody } from './http.ts';

test('ControlError kinds map to 404, 409 and 400; HttpError keeps its status and headers; anything else is a 500 that hides its message', () => {
  assert.equal(errorReply(new ControlError('not-found', 'no VM named "x"')), {
    status: 404,
    message: 'no VM named "x"',
    headers: {},
  });
  assert.is(errorReply(new ControlError('conflict', 'busy')).status, 409);
  assert.is(errorReply(new ControlError('invalid', 'bad')).status, 400);
  assert.equal(errorReply(new HttpError(429, 'wait', { 'retry-after': '5' })), {
    status: 429,
    message: 'wait',
    headers: { 'retry-after': '5' },
  });
  const hidden = errorReply(new Error('ENOENT /var/lib/mvos/secret-path'));
  assert.is(hidden.status, 500);
  assert.not.match(hidden.message, /secret-path/);
});

function body(text: string, type = 'application/json'): IncomingMessage {
  return Object.assign(Readable.from([Buffer.from(text)]), {
    headers: { 'content-type': type },
  }) as unknown as IncomingMessage;
}

async function refusal(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (error) {
    return (error as HttpError).status;
  }
  return 0;
}

test('bodies: empty is {}, JSON objects pass, other types, non-objects, bad JSON and over 64 KiB are refused', async () => {
  assert.equal(await readJsonBody(body('')), {});
  assert.equal(await readJsonBody(body('{"a":1}', 'application/json; charset=utf-8')), { a: 1 });
  assert.is(await refusal(readJsonBody(body('{"a":1}', 'text/plain'))), 415);
  assert.is(await refusal(readJsonBody(body('[1]'))), 400);
  assert.is(await refusal(readJsonBody(body('{'))), 400);
  assert.is(await refusal(readJsonBody(body(`{"a":"${'x'.repeat(70_000)}"}`))), 413);
});

test.run();
