// Ending a test's helper process: SIGTERM, SIGKILL if it is still there after a grace period.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

// Ends `child` and resolves once it exited; nothing when it already ended.
export async function endChild(child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited, sleep(graceMs, 'timeout', { ref: false })])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}
