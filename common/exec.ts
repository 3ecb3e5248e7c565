// The one wrapper around external programs: every tool mvos runs goes through here.
import { execa, type Options, type ResultPromise } from 'execa';
import { FailureError } from './errors.ts';

// Result of a finished tool run.
export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

// Runs a program to completion and returns its output; rejects with a FailureError naming the command when it fails.
export async function runTool(
  file: string,
  args: readonly string[],
  options: {
    cwd?: string;
    input?: string | Buffer;
    env?: Record<string, string>;
    timeoutMs?: number;
    allowFailure?: boolean;
  } = {},
): Promise<ToolResult> {
  const result = await execa(file, args, {
    cwd: options.cwd,
    input: options.input,
    env: options.env,
    timeout: options.timeoutMs,
    reject: false,
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  if (result.failed && !options.allowFailure) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : result.exitCode !== undefined
        ? `exited with ${result.exitCode}`
        : (result.originalMessage ?? 'could not start');
    throw new FailureError(`${file} ${args.join(' ')}: ${why}\n${String(result.stderr ?? '').trim()}`.trim(), {
      cause: result,
      hint: result.code === 'ENOENT' ? `${file} is not installed: run \`./mvos doctor\`` : undefined,
    });
  }
  return {
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    exitCode: result.exitCode ?? -1,
  };
}

// Starts a program whose stdout/stderr the caller streams (binary, e.g. a decompressor in a pipeline).
export function spawnTool(file: string, args: readonly string[], options: Options = {}): ResultPromise {
  return execa(file, args, { encoding: 'buffer', ...options, buffer: false });
}
