// Small HTTP helpers for the API: JSON replies, bounded JSON bodies, and the error type that carries a status code.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ControlError } from '../controls.ts';

// A refusal with its HTTP status; the router turns it into a JSON body `{ error }`.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

// Headers every answer carries: nothing is cached, framed or sniffed.
export const SAFE_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

// Writes a JSON answer (pretty, newline-terminated: the CLI prints it as it is).
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    ...SAFE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

// Writes a text answer (HTML, JS, CSS, console logs).
export function sendText(
  res: ServerResponse,
  status: number,
  type: string,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SAFE_HEADERS,
    'content-type': `${type}; charset=utf-8`,
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

const CONTROL_STATUS: Record<ControlError['kind'], number> = {
  'not-found': 404,
  conflict: 409,
  invalid: 400,
  limited: 429,
};

// The status and message an error answers with; anything unexpected is a 500 that hides its details.
export function errorReply(error: unknown): { status: number; message: string; headers: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.status, message: error.message, headers: error.headers };
  if (error instanceof ControlError) return { status: CONTROL_STATUS[error.kind], message: error.message, headers: {} };
  return { status: 500, message: 'internal error (see the agent log)', headers: {} };
}

const MAX_BODY = 64 * 1024;

// Reads a JSON object body (empty → {}); refuses other content types, bodies over 64 KiB and anything but an object.
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'send the body as application/json');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HttpError(400, 'the body must be a JSON object');
  return value as Record<string, unknown>;
}
