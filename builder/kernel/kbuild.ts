// Reading kbuild's output: every step it runs prints one short line ("  CC      kernel/fork.o"), which is what a
// build's progress counts.

// Two spaces, an upper-case command (CC, AS, LD, AR, HOSTCC, OBJCOPY...), spaces, a target.
const STEP = /^\s{2}[A-Z][A-Z0-9_]*\s+\S/;

// Whether a line of make's output is one kbuild step; compiler warnings, config chatter and make's own lines are not.
export function isKbuildStep(line: string): boolean {
  return STEP.test(line);
}

// The step as a short note for a status line: "CC kernel/fork.o".
export function kbuildNote(line: string): string {
  return line.trim().replace(/\s+/g, ' ');
}
