// The one wrapper around ajv: compiles recipes/recipe.schema.json and validates recipe data against it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Problem } from '../../common/errors.ts';
import { problemFromAjvError } from './messages.ts';
import type { LocationMap } from './yaml-source.ts';

// Absolute path of the recipe JSON Schema, the single source of truth for the recipe format.
export const schemaPath = fileURLToPath(new URL('../../recipes/recipe.schema.json', import.meta.url));

type SchemaNode = Record<string, unknown> | boolean;

let compiled: { validate: ValidateFunction; schema: Record<string, unknown> } | undefined;

// The parsed schema document.
export function recipeSchema(): Record<string, unknown> {
  return compiledSchema().schema;
}

function compiledSchema(): { validate: ValidateFunction; schema: Record<string, unknown> } {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv({
      allErrors: true,
      verbose: true,
      strict: true,
      strictTypes: false,
      allowUnionTypes: true,
      useDefaults: true,
    });
    ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
    ajv.addKeyword({ keyword: 'tsType', schemaType: 'string' });
    compiled = { validate: ajv.compile(schema), schema };
  }
  return compiled;
}

function resolveRef(schema: SchemaNode | undefined): SchemaNode | undefined {
  if (typeof schema !== 'object' || schema === null || typeof schema.$ref !== 'string') return schema;
  const target = schema.$ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], compiledSchema().schema) as
    | SchemaNode
    | undefined;
  return resolveRef(target);
}

// Validates recipe data in place (schema defaults are filled in) and returns every problem, located in the source.
export function validateAgainstSchema(data: unknown, locations: LocationMap): Problem[] {
  const { validate } = compiledSchema();
  if (validate(data)) return [];
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const error of validate.errors ?? []) {
    const problem = problemFromAjvError(error, locations, resolveRef);
    if (!problem) continue;
    // One problem per path: a value that breaks several rules is described once, by everything it must be.
    if (seen.has(problem.path ?? '')) continue;
    seen.add(problem.path ?? '');
    problems.push(problem);
  }
  return problems;
}
