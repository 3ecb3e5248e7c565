// A small media input for the writers' tests: a fake kernel and initrd, so a test writes real images in a second.
import type { MediaInput } from './input.ts';

// The input with its id fixed; `salt` changes the payload (and so every GUID).
export function fakeMediaInput(salt = ''): MediaInput {
  return {
    name: 'test-host',
    version: '1.0.0',
    vmlinuz: Buffer.from(`not a kernel ${salt}`.repeat(1000)),
    initrd: Buffer.from(`not an initrd ${salt}`.repeat(1000)),
    cmdline: 'console=ttyS0,115200',
    boot: { attempts: 3, menuTimeout: 2 },
    stateLabel: 'MVOS-STATE',
    sourceDateEpoch: 1700000000,
    id: salt ? `${'c'.repeat(62)}${salt.padStart(2, '0').slice(0, 2)}` : 'a'.repeat(64),
  };
}
