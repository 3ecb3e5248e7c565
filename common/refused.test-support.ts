// Test support: asserts that a promise is refused with a UserError, and hands back its message.
import * as assert from 'uvu/assert';
import { UserError } from './errors.ts';

// Awaits `promise` and asserts it rejected with a UserError (matching `pattern` when given); returns the message.
export async function refused(promise: Promise<unknown>, pattern?: RegExp): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, UserError);
    const message = (error as Error).message;
    if (pattern) assert.match(message, pattern);
    return message;
  }
  throw new assert.Assertion({
    message: `expected a refusal${pattern ? ` matching ${pattern}` : ''}, it went through`,
    operator: 'throws',
    expects: 'UserError',
    actual: 'success',
  });
}
