// YAML text → plain data plus a map from JSON pointer to source position, so every later problem can name file:line:col.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Problem, SourceLocation } from '../errors.ts';

// Where one value (and, for object members, its key) sits in a file.
export interface NodePlace {
  key?: SourceLocation;
  value: SourceLocation;
  // The scalar as written (YAML reads `1.0` as the number 1; messages show what the user typed).
  text?: string;
}

// JSON pointer → place in the source; after `extends`, entries come from several files.
export type LocationMap = Map<string, NodePlace>;

// A parsed YAML recipe file.
export interface ParsedYaml {
  data: unknown;
  locations: LocationMap;
  problems: Problem[];
}

// Escapes one JSON pointer segment (RFC 6901).
export function pointerSegment(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

// Parses YAML text; syntax errors (including duplicate keys) come back as problems with their position.
export function parseYaml(source: string, file: string): ParsedYaml {

  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const problems: Problem[] = doc.errors.map((e) => {
    const opener = /^Flow (sequence|mapping).*end with an? [\]}]/.test(e.message) ? unclosedBracket(source, e.pos[0]) : undefined;
    return {
      location: at(opener ?? skipIndentation(source, e.pos[0])),
      message: `YAML syntax error: ${opener !== undefined ? `this ${source[opener]} is never closed` : firstLine(e.message)}`,
      hint: opener !== undefined ? `close it with ${source[opener] === '[' ? ']' : '}'} on the same line, or write the items as a block list` : yamlHint(e.code),
    };
  });
  const locations: LocationMap = new Map();
  const walk = (node: Node | null | undefined, pointer: string, key?: SourceLocation): void => {
    const start = node?.range?.[0];
    const value = start !== undefined ? at(start) : (key ?? { file, line: 1, col: 1 });
    const text = isScalar(node) && node.range ? source.slice(node.range[0], node.range[1]) : undefined;
    locations.set(pointer, { key, value, text });
    if (isMap(node)) {
      for (const pair of node.items) {
        const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyStart = (pair.key as Node | null)?.range?.[0];
        walk(pair.value as Node | null, `${pointer}/${pointerSegment(k)}`, keyStart !== undefined ? at(keyStart) : undefined);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item as Node | null, `${pointer}/${i}`));
    }
  };
  walk(doc.contents as Node | null, '');
  const data = problems.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 });
  return { data, locations, problems };
}

// The parser reports some errors at the start of the indentation; people look for the first character that is wrong.
function skipIndentation(text: string, offset: number): number {
  let i = offset;
  while (text[i] === ' ') i++;
  return text[i] === undefined || text[i] === '\n' ? offset : i;
}

// Where the last bracket still open before an offset was opened (quotes and comments skipped).
function unclosedBracket(text: string, offset: number): number | undefined {
  const open: number[] = [];
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      i = end < 0 ? text.length : end;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else if (c === '[' || c === '{') open.push(i);
    else if (c === ']' || c === '}') open.pop();
  }
  return open.at(-1);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping: remove or rename the second one';
    case 'TAB_AS_INDENT':
      return 'YAML indentation uses spaces, not tabs';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'check the indentation and that every "key: value" has a space after the colon';
    default:
      return undefined;
  }
}

// Finds the place for a pointer (its key where it has one, as editors show it), or the nearest enclosing one's.
export function locate(locations: LocationMap, pointer: string): SourceLocation | undefined {
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const place = locations.get(p);
    if (place) return place.key ?? place.value;
    if (p === '') return undefined;
  }
}
