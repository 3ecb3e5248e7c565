// YAML text → plain data plus a map from JSON pointer to source position, so every later problem can name
// file:line:col.
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { Problem, SourceLocation } from '../../common/errors.ts';

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

// What a recipe file may hold: recipes are small, so anything past these is a mistake or an attack, refused with a
// place.
export const YAML_LIMITS = { bytes: 256 * 1024, scalarBytes: 64 * 1024, depth: 64, nodes: 10_000, aliases: 100 };

// Parses YAML text; syntax errors (including duplicate keys) and oversized shapes come back as problems with their
// position.
export function parseYaml(source: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const locations: LocationMap = new Map();
  const refuse = (problem: Problem): ParsedYaml => ({ data: undefined, locations, problems: [problem] });
  if (source.length > YAML_LIMITS.bytes) {
    return refuse({
      location: { file, line: 1, col: 1 },
      message: `this file is ${kib(source.length)} KiB; a recipe may be at most ${kib(YAML_LIMITS.bytes)} KiB`,
      hint: 'a recipe names its inputs; put large content in overlay or template files and refer to them',
    });
  }
  const shape = scanShape(source, YAML_LIMITS.depth, YAML_LIMITS.nodes);
  if (shape) {
    lineCounter.addNewLine(0);
    for (let i = source.indexOf('\n'); i >= 0 && i < shape.at; i = source.indexOf('\n', i + 1))
      lineCounter.addNewLine(i + 1);
    const deep = shape.kind === 'deep';
    return refuse({
      location: at(shape.at),
      message: deep
        ? `brackets nested more than ${YAML_LIMITS.depth} deep`
        : `more than ${YAML_LIMITS.nodes} values in one recipe`,
      hint: deep
        ? 'a recipe needs a few levels; flatten this value'
        : 'a recipe names its inputs; split it, or put data in overlay files',
    });
  }
  let doc: ReturnType<typeof parseDocument>;
  try {
    // Duplicate keys are found below with a set: the parser's own check compares each key with all earlier ones
    // (quadratic).
    doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return refuse({
      location: { file, line: deepestLine(source), col: 1 },
      message: `values nested more than ${YAML_LIMITS.depth} deep`,
      hint: 'a recipe needs a few levels; flatten this value',
    });
  }
  const problems: Problem[] = doc.errors.map((e) => {
    const opener = /^Flow (sequence|mapping).*end with an? [\]}]/.test(e.message)
      ? unclosedBracket(source, e.pos[0])
      : undefined;
    return {
      location: at(opener ?? skipIndentation(source, e.pos[0])),
      message: `YAML syntax error: ${opener !== undefined ? `this ${source[opener]} is never closed` : firstLine(e.message)}`,
      hint:
        opener !== undefined
          ? `close it with ${source[opener] === '[' ? ']' : '}'} on the same line, or write the items as a block list`
          : yamlHint(e.code),
    };
  });
  let nodes = 0;
  // One problem per kind of excess is enough; the walk stops where the recipe stops being a recipe.
  let excess = false;
  const walk = (node: Node | null | undefined, pointer: string, depth: number, key?: SourceLocation): void => {
    if (excess) return;
    const start = node?.range?.[0];
    const value = start !== undefined ? at(start) : (key ?? { file, line: 1, col: 1 });
    if (++nodes > YAML_LIMITS.nodes || depth > YAML_LIMITS.depth) {
      excess = true;
      const tooMany = nodes > YAML_LIMITS.nodes;
      problems.push({
        location: key ?? value,
        message: tooMany
          ? `more than ${YAML_LIMITS.nodes} values in one recipe`
          : `values nested more than ${YAML_LIMITS.depth} deep`,
        hint: tooMany
          ? 'a recipe names its inputs; split it, or put data in overlay files'
          : 'a recipe needs a few levels; flatten this value',
      });
      return;
    }
    const text = isScalar(node) && node.range ? source.slice(node.range[0], node.range[1]) : undefined;
    if (text !== undefined && text.length > YAML_LIMITS.scalarBytes) {
      problems.push({
        location: value,
        message: `this value is ${kib(text.length)} KiB; one value may be at most ${kib(YAML_LIMITS.scalarBytes)} KiB`,
        hint: 'put large content in an overlay or template file and refer to it',
      });
    }
    locations.set(pointer, { key, value, text });
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyStart = (pair.key as Node | null)?.range?.[0];
        const keyPlace = keyStart !== undefined ? at(keyStart) : undefined;
        if (seen.has(k))
          problems.push({
            location: keyPlace ?? value,
            message: 'YAML syntax error: Map keys must be unique',
            hint: yamlHint('DUPLICATE_KEY'),
          });
        seen.add(k);
        walk(pair.value as Node | null, `${pointer}/${pointerSegment(k)}`, depth + 1, keyPlace);
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) walk(item as Node | null, `${pointer}/${i}`, depth + 1);
    }
  };
  walk(doc.contents as Node | null, '', 0);
  if (problems.length > 0) return { data: undefined, locations, problems };
  try {
    return { data: doc.toJS({ maxAliasCount: YAML_LIMITS.aliases }), locations, problems };
  } catch (error) {
    if (!(error instanceof ReferenceError || /alias/i.test((error as Error).message))) throw error;
    return {
      data: undefined,
      locations,
      problems: [
        {
          location: at(firstAlias(doc) ?? 0),
          message: `YAML aliases (*name) expand to too many values (more than ${YAML_LIMITS.aliases} copies)`,
          hint: 'write the repeated values out, or use fewer nested aliases',
        },
      ],
    };
  }
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(0);
}

// One pass before the parser (whose cost grows with both): where flow brackets nest too deep, or where the lines and
// commas, each at most one value, pass the value limit. Quotes and comments are skipped.
function scanShape(
  text: string,
  depthLimit: number,
  valueLimit: number,
): { kind: 'deep' | 'many'; at: number } | undefined {
  let depth = 0;
  let separators = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const skipped = skipQuoteOrComment(text, i);
    if (skipped !== undefined) i = skipped;
    else if (c === '[' || c === '{') {
      if (++depth > depthLimit) return { kind: 'deep', at: i };
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
    else if ((c === '\n' || c === ',') && ++separators > valueLimit * 2) return { kind: 'many', at: i };
  }
  return undefined;
}

// At a quote or a comment: the offset of its last character (a comment keeps its newline, which ends a value too).
function skipQuoteOrComment(text: string, i: number): number | undefined {
  const c = text[i];
  if (c === '"' || c === "'") {
    const end = text.indexOf(c, i + 1);
    return end < 0 ? text.length : end;
  }
  if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
    const end = text.indexOf('\n', i);
    return end < 0 ? text.length : end - 1;
  }
  return undefined;
}

// The most indented line: where block nesting that overflowed the parser went deepest.
function deepestLine(text: string): number {
  let best = { line: 1, indent: -1 };
  text.split('\n').forEach((line, i) => {
    const indent = line.length - line.trimStart().length;
    if (indent > best.indent) best = { line: i + 1, indent };
  });
  return best.line;
}

// The offset of the first alias in the document (where an expansion bomb begins to go off).
function firstAlias(doc: ReturnType<typeof parseDocument>): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (isAlias(node) && node.range) found = node.range[0];
      return visit.BREAK;
    },
  });
  return found;
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
    const skipped = skipQuoteOrComment(text, i);
    if (skipped !== undefined) i = skipped;
    else if (c === '[' || c === '{') open.push(i);
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
