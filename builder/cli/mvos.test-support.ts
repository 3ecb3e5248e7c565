// Test support: the `mvos` command as a person runs it, the real launcher in a child process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

// What one run printed, and its exit code (null when it was killed).
export interface MvosRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Runs ./mvos in the repository without colours; `input` is its stdin (else none), `env` adds to the environment.
export function runMvos(
  args: string[],
  options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): MvosRun {
  const result = spawnSync('./mvos', args, {
    cwd: root,
    input: options.input,
    encoding: 'utf8',
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    timeout: options.timeoutMs ?? 60_000,
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
