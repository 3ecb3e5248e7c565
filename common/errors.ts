// Typed errors: the CLI entry point is the only place that renders them and picks the exit code.

// Where in a source file a problem was found (1-based line and column).
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

// One problem found in user input, reported with every other at once.
export interface Problem {
  location?: SourceLocation;
  path?: string;
  message: string;
  hint?: string;
}

// Base of all mvos errors: carries an optional hint and the exit code it stands for.
export class MvosError extends Error {
  readonly hint?: string;
  readonly exitCode: number;
  constructor(message: string, options: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

// The user asked for something wrong (bad recipe, bad flag, missing file): exit code 2.
export class UserError extends MvosError {
  readonly problems: readonly Problem[];
  constructor(message: string, options: { hint?: string; cause?: unknown; problems?: Problem[] } = {}) {
    super(message, { ...options, exitCode: 2 });
    this.problems = options.problems ?? [];
  }
}

// Something failed that the user did not cause (a tool crashed, a hash mismatch in the cache): exit code 1.
export class FailureError extends MvosError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 1 });
  }
}

// Renders a problem as `file:line:col /json/path: message` with an indented hint line.
export function formatProblem(problem: Problem): string {
  const where = problem.location
    ? `${problem.location.file}:${problem.location.line}:${problem.location.col}`
    : undefined;
  const head = [where, problem.path !== undefined ? `${problem.path || '/'}:` : undefined].filter(Boolean).join(' ');
  const first = head ? `${head} ${problem.message}` : problem.message;
  return problem.hint ? `${first}\n  hint: ${problem.hint}` : first;
}

// Orders problems by file, line and column, as an editor lists them.
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => {
    const fa = a.location?.file ?? '';
    const fb = b.location?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.col ?? 0) - (b.location?.col ?? 0);
  });
}

// The value, or a FailureError naming `what` when it is missing: for an index or a regex group that an earlier check
// guarantees.
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new FailureError(`${what} is missing`);
  return value;
}
