// `extends:` merging: objects merge key by key, arrays and scalars are replaced, null removes a key.
import { type LocationMap, pointerSegment } from './yaml-source.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Merges a child recipe's data over its base; the child wins.
export function mergeRecipeData(base: unknown, child: unknown): unknown {
  if (!isObject(base) || !isObject(child)) return child;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(child)) {
    if (value === null) delete merged[key];
    else merged[key] = key in base ? mergeRecipeData(base[key], value) : value;
  }
  return merged;
}

// Merges location maps the same way: where the child sets a value, the base's places under it are forgotten.
export function mergeLocations(base: LocationMap, child: LocationMap, childData: unknown): LocationMap {
  const merged: LocationMap = new Map(base);
  const replaced = new Set<string>();
  const collect = (value: unknown, pointer: string): void => {
    if (isObject(value)) {
      for (const [key, v] of Object.entries(value)) collect(v, `${pointer}/${pointerSegment(key)}`);
    } else {
      replaced.add(pointer);
    }
  };
  collect(childData, '');
  for (const pointer of merged.keys()) {
    for (const r of replaced) {
      if (pointer === r || pointer.startsWith(`${r}/`)) merged.delete(pointer);
    }
  }
  for (const [pointer, place] of child) merged.set(pointer, place);
  return merged;
}
