// The one wrapper around handlebars: finds the variables a template uses and renders it strictly.
import Handlebars from 'handlebars';
import type { SourceLocation } from '../../common/errors.ts';

// A variable a template refers to, with where.
export interface TemplateReference {
  name: string;
  line: number;
  col: number;
}

type HbsNode = { type: string; loc?: { start: { line: number; column: number } } } & Record<string, unknown>;

// Block helpers whose body runs with the same context; others (each, with) change what names mean inside.
const sameContextBlocks = new Set(['if', 'unless']);
const knownHelpers = new Set(['if', 'unless', 'each', 'with', 'lookup', 'log']);

// Lists the top-level names a template reads (first segment of each path), ignoring names inside each/with blocks.
export function templateReferences(source: string): TemplateReference[] {
  const found: TemplateReference[] = [];
  const visitPath = (node: HbsNode): void => {
    if (node.type !== 'PathExpression') return;
    const parts = node.parts as string[];
    if (node.data || node.this || (node.depth as number) > 0 || parts.length === 0) return;
    const start = node.loc?.start ?? { line: 1, column: 0 };
    found.push({ name: parts[0]!, line: start.line, col: start.column + 1 });
  };
  const visitExpression = (node: HbsNode | undefined): void => {
    if (!node) return;
    if (node.type === 'PathExpression') visitPath(node);
    else if (node.type === 'SubExpression') visitCall(node);
  };
  const visitCall = (node: HbsNode): void => {
    const path = node.path as HbsNode;
    const params = (node.params as HbsNode[]) ?? [];
    const hashPairs = ((node.hash as HbsNode | undefined)?.pairs as HbsNode[]) ?? [];
    const isHelper =
      params.length > 0 ||
      hashPairs.length > 0 ||
      (path.type === 'PathExpression' && knownHelpers.has((path.parts as string[])[0] ?? ''));
    if (!isHelper) visitExpression(path);
    for (const param of params) visitExpression(param);
    for (const pair of hashPairs) visitExpression(pair.value as HbsNode);
  };
  const visitProgram = (program: HbsNode | undefined): void => {
    for (const statement of (program?.body as HbsNode[]) ?? []) {
      if (statement.type === 'MustacheStatement') visitCall(statement);
      else if (statement.type === 'BlockStatement') {
        visitCall(statement);
        const helper = ((statement.path as HbsNode).parts as string[])[0] ?? '';
        if (sameContextBlocks.has(helper)) visitProgram(statement.program as HbsNode);
        visitProgram(statement.inverse as HbsNode | undefined);
      }
    }
  };
  visitProgram(Handlebars.parse(source) as unknown as HbsNode);
  return found;
}

// A template parse error as a located problem: handlebars gives the line and an excerpt ending where parsing stopped.
export function templateSyntaxError(
  error: unknown,
  file: string,
  source: string,
): { location: SourceLocation; message: string; hint: string } {
  const hint = 'check that every {{ has its }} and every {{#block}} its {{/block}}';
  const e = error as { message?: string; lineNumber?: number; column?: number };
  const text = e.message ?? String(error);
  if (typeof e.lineNumber === 'number') {
    return {
      location: { file, line: e.lineNumber, col: (e.column ?? 0) + 1 },
      message: `template syntax error: ${text.replace(/ - \d+:\d+$/, '')}`,
      hint,
    };
  }
  const [head = '', excerpt = '', caret = '', expecting = ''] = text.split('\n');
  const line = Number(/on line (\d+)/.exec(head)?.[1] ?? 1);
  const consumed = excerpt
    .replace(/^\.\.\./, '')
    .slice(0, Math.max(0, caret.indexOf('^') - (excerpt.startsWith('...') ? 3 : 0)));
  const lineText = source.split('\n')[line - 1] ?? '';
  let end = lineText.indexOf(consumed) >= 0 ? lineText.indexOf(consumed) + consumed.length : 0;
  for (let n = consumed.length; end === 0 && n > 0; n--) if (lineText.startsWith(consumed.slice(-n))) end = n;
  const got = /got '([^']+)'/.exec(expecting)?.[1];
  const what =
    got === 'EOF'
      ? 'the template ends inside a {{…}} or a block'
      : got
        ? `unexpected ${got === 'INVALID' ? 'character' : got.toLowerCase()}`
        : 'cannot parse';
  return { location: { file, line, col: end + 1 }, message: `template syntax error: ${what}`, hint };
}

// Renders a template strictly: a name missing from the values is an error, never an empty string.
export function renderTemplate(source: string, values: Record<string, unknown>): string {
  return Handlebars.compile(source, { strict: true, noEscape: true })(values);
}
