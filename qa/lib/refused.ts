// Test support: asserts that a promise is refused with a UserError whose message matches.
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';

// Awaits `promise` and asserts it rejected with a UserError matching `pattern`.
export async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a refusal matching ${pattern}`);
}
