// What the VPN provider-file parsers share: the file's lines, and every problem found in them, thrown at once.
import { type Problem, sortProblems, UserError } from '../../common/errors.ts';

// One line of the file without its line ending; `bad` when the input checks already reported it.
export interface Line {
  number: number;
  text: string;
  bad: boolean;
}

// Collects the problems found in one file and throws them as one UserError naming file:line:col.
export class Report {
  readonly problems: Problem[] = [];
  constructor(readonly file: string) {}

  add(line: number, col: number, message: string, hint: string): void {
    this.problems.push({ location: { file: this.file, line, col }, message, hint });
  }

  done(): void {
    if (this.problems.length > 0) this.throwAll();
  }

  throwAll(): never {
    const problems = sortProblems(this.problems);
    const first = problems[0]!;
    const where = `${this.file}:${first.location!.line}:${first.location!.col}`;
    const message =
      problems.length === 1
        ? `${where}: ${first.message}`
        : `${this.file} has ${problems.length} problems, the first at ${where}: ${first.message}`;
    throw new UserError(message, { problems, hint: first.hint });
  }
}
