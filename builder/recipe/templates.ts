// The one wrapper around handlebars: finds the variables a template uses and renders it strictly.
import Handlebars from 'handlebars';
import type { SourceLocation } from '../errors.ts';

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
    const isHelper = params.length > 0 || hashPairs.length > 0 || (path.type === 'PathExpression' && knownHelpers.has((path.parts as string[])[0] ?? ''));
    if (!isHelper) visitExpression(path);
    params.forEach(visitExpression);
    hashPairs.forEach((pair) => visitExpression(pair.value as HbsNode));
  };
  const visitProgram = (program: HbsNode | undefined): void => {
    for (const statement of ((program?.body as HbsNode[]) ?? [])) {
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

// Error from parsing a template, with the line handlebars reports.
export function templateSyntaxError(error: unknown, file: string): { location: SourceLocation; message: string } {
  const text = error instanceof Error ? error.message : String(error);
  const line = /on line (\d+)/.exec(text)?.[1];
  return { location: { file, line: line ? Number(line) : 1, col: 1 }, message: `template syntax error: ${text.split('\n')[0]}` };
}

// Renders a template strictly: a name missing from the values is an error, never an empty string.
export function renderTemplate(source: string, values: Record<string, unknown>): string {
  return Handlebars.compile(source, { strict: true, noEscape: true })(values);
}
