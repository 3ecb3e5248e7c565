// The host's own commands (`mvos update …`, `mvos vault …` on the host) talk to the running agent over its root-only
// socket.
import { request } from 'node:http';
import type { Readable } from 'node:stream';
import type { ApiError } from '../common/api-types.ts';
import { FailureError, UserError } from '../common/errors.ts';

const SOCKET = '/run/mvos/agent.sock';

// One request to the agent's socket; undefined when no agent answers there.
export function askAgent(
  method: string,
  path: string,
  body?: { stream: Readable; size: number } | { json: unknown },
): Promise<{ status: number; json: unknown } | undefined> {
  const json = body && 'json' in body ? JSON.stringify(body.json) : undefined;
  const headers =
    body && 'stream' in body
      ? { 'content-type': 'application/octet-stream', 'content-length': String(body.size) }
      : json !== undefined
        ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) }
        : {};
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: SOCKET,
        method,
        path,
        headers,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { error: text } });
          }
        });
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? resolve(undefined) : reject(error),
    );
    if (body && 'stream' in body) body.stream.pipe(req);
    else req.end(json);
  });
}

// An answer that is not a success, as the error the CLI shows: the agent's reason, exit 2 for what the user can change.
export function refused(answer: { status: number; json: unknown }): Error {
  const message = (answer.json as Partial<ApiError>).error ?? `HTTP ${answer.status}`;
  return answer.status === 400 || answer.status === 409 ? new UserError(message) : new FailureError(message);
}
