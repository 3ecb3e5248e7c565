// Turns ajv's errors into problems a person can act on: what was expected, what was found, a hint.
import type { ErrorObject } from 'ajv';
import type { Problem } from '../../common/errors.ts';
import { type LocationMap, locate, pointerSegment } from './yaml-source.ts';

type SchemaNode = Record<string, unknown> | boolean;

// Says in words what a schema accepts, e.g. `integer ≥ 1` or `one of "zstd", "gzip"`.
export function describeExpected(schema: SchemaNode | undefined): string {
  if (typeof schema !== 'object' || schema === null) return 'a valid value';
  if (typeof schema['x-expected'] === 'string') return schema['x-expected'];
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  const type = schema.type;
  if (type === 'integer' || type === 'number') {
    const min = schema.minimum as number | undefined;
    const max = schema.maximum as number | undefined;
    if (min !== undefined && max !== undefined) return `${type} from ${min} to ${max}`;
    if (min !== undefined) return `${type} ≥ ${min}`;
    if (max !== undefined) return `${type} ≤ ${max}`;
    return type;
  }
  if (type === 'boolean') return 'true or false';
  if (type === 'string') return schema.minLength ? 'a non-empty string' : 'a string';
  if (type === 'array') {
    const items = describeExpected(schema.items as SchemaNode | undefined);
    return `a list of ${items}`;
  }
  if (type === 'object') return 'a mapping of keys to values';
  if (Array.isArray(type)) return type.join(' or ');
  return 'a valid value';
}

// Shows a found value briefly, as it would be written in JSON.
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// Edit distance, for "did you mean" hints.
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

// The closest known word to a misspelt one, if it is close enough to be a likely typo.
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

function allowedKeys(schema: SchemaNode | undefined): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  return Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
}

function propertySchema(parent: SchemaNode | undefined, key: string): SchemaNode | undefined {
  if (typeof parent !== 'object' || parent === null) return undefined;
  const property = (parent.properties as Record<string, SchemaNode> | undefined)?.[key];
  return typeof property === 'object' ? property : undefined;
}

// Converts one ajv error (ajv run with verbose: true) into a problem located in the source.
export function problemFromAjvError(
  error: ErrorObject,
  locations: LocationMap,
  resolve: (schema: SchemaNode | undefined) => SchemaNode | undefined,
): Problem | undefined {
  const parent = resolve(error.parentSchema as SchemaNode | undefined);
  const at = (pointer: string) => locate(locations, pointer);
  const base = error.instancePath;
  // Errors inside propertyNames repeat the propertyNames error that follows them.
  if (error.propertyName !== undefined && error.keyword !== 'propertyNames') return undefined;
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      const path = `${base}/${pointerSegment(missing)}`;
      const expected = describeExpected(resolve(propertySchema(parent, missing)));
      return {
        location: at(base),
        path,
        message: `missing: must be ${expected}`,
        hint: `add \`${missing}:\` ${base ? `under ${base}` : 'at the top level'}`,
      };
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      const path = `${base}/${pointerSegment(extra)}`;
      const known = allowedKeys(parent);
      const guess = closest(extra, known);
      return {
        location: at(path),
        path,
        message: `unknown property ${JSON.stringify(extra)}`,
        hint: guess
          ? `did you mean ${JSON.stringify(guess)}?`
          : known.length
            ? `allowed here: ${known.join(', ')}`
            : undefined,
      };
    }
    case 'propertyNames': {
      const name = (error.params as { propertyName: string }).propertyName;
      const path = `${base}/${pointerSegment(name)}`;
      return {
        location: at(path),
        path,
        message: `name ${JSON.stringify(name)} is not allowed: must be ${describeExpected(resolve((parent as Record<string, unknown> | undefined)?.propertyNames as SchemaNode | undefined))}`,
      };
    }
    case 'uniqueItems': {
      const { i, j } = error.params as { i: number; j: number };
      const later = Math.max(i, j);
      const data = error.data as unknown[];
      return {
        location: at(`${base}/${later}`),
        path: `${base}/${later}`,
        message: `${showValue(data[later])} is listed twice (also at ${base}/${Math.min(i, j)})`,
        hint: 'remove the repeated item',
      };
    }
    case 'minItems': {
      const { limit } = error.params as { limit: number };
      return { location: at(base), path: base, message: `must list at least ${limit} item${limit === 1 ? '' : 's'}` };
    }
    case 'maxItems': {
      const { limit } = error.params as { limit: number };
      return { location: at(base), path: base, message: `must list at most ${limit} item${limit === 1 ? '' : 's'}` };
    }
    case 'type':
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'pattern':
    case 'enum':
    case 'const':
    case 'minLength':
    case 'maxLength': {
      const guess =
        error.keyword === 'enum' && typeof error.data === 'string'
          ? closest(error.data, ((parent as Record<string, unknown>).enum as unknown[]).map(String))
          : undefined;
      return {
        location: at(base),
        path: base,
        message: `must be ${describeExpected(parent)} (got ${typeof error.data === 'number' ? (locations.get(base)?.text ?? showValue(error.data)) : showValue(error.data)})`,
        hint: guess ? `did you mean ${JSON.stringify(guess)}?` : undefined,
      };
    }
    case 'allOf':
    case 'anyOf':
    case 'oneOf':
    case 'if':
      return undefined;
    default:
      return { location: at(base), path: base, message: error.message ?? `fails the ${error.keyword} rule` };
  }
}
