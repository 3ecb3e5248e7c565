// Renders errors for people (and for scripts with --json); the only place error text is produced.
import { formatProblem, MvosError, type Problem, UserError } from '../../common/errors.ts';

// Options that shape how an error is shown.
export interface RenderOptions {
  debug: boolean;
  color: boolean;
  json: boolean;
}

function paint(text: string, code: number, color: boolean): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  for (let cause = (error as Error)?.cause, depth = 0; cause && depth < 5; cause = (cause as Error).cause, depth++) {
    lines.push(
      `caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : JSON.stringify(cause).slice(0, 2000)}`,
    );
  }
  return lines;
}

// Text for a list of problems, one per line with its hint.
export function renderProblems(problems: readonly Problem[], color: boolean): string {
  return problems
    .map((p) =>
      formatProblem(p).replace(
        /^(.*?)( (?:must|missing|unknown))/,
        (_, head, rest) => `${paint(head, 1, color)}${rest}`,
      ),
    )
    .join('\n');
}

// The exit code an error stands for: 2 for user errors, 1 for everything else.
export function exitCodeOf(error: unknown): number {
  return error instanceof MvosError ? error.exitCode : 1;
}

// The full text shown for an error (stack traces only in debug mode).
export function renderError(error: unknown, options: RenderOptions): string {
  if (options.json) {
    const body =
      error instanceof MvosError
        ? {
            kind: error instanceof UserError ? 'user' : 'failure',
            message: error.message,
            hint: error.hint,
            problems: error instanceof UserError ? error.problems : [],
          }
        : { kind: 'internal', message: String((error as Error)?.message ?? error) };
    return JSON.stringify({ ok: false, error: body }, null, 2);
  }
  const lines: string[] = [];
  if (error instanceof MvosError) {
    if (error instanceof UserError && error.problems.length > 0)
      lines.push(renderProblems(error.problems, options.color));
    lines.push(`${paint('error:', 31, options.color)} ${error.message}`);
    if (error.hint) lines.push(`${paint('hint:', 36, options.color)} ${error.hint}`);
    if (options.debug) lines.push(error.stack ?? '', ...causeChain(error));
  } else {
    lines.push(`${paint('internal error:', 31, options.color)} ${(error as Error)?.message ?? String(error)}`);
    if (options.debug) lines.push((error as Error)?.stack ?? '', ...causeChain(error));
    else lines.push('hint: this is a bug in mvos; run again with --debug for the stack trace and report it');
  }
  return lines.join('\n');
}
