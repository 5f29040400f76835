// Renders the configuration reference (a Markdown table) from the schema, so that the
// documented keys, types, defaults and descriptions cannot drift from the code.

import { z } from 'zod';
import { configSchema, typeLabels } from './schema.ts';

type Schema = z.core.$ZodType;

// The parts of zod's definitions this walk reads; each wrapper type sets some of them.
type Definition = {
  type: string;
  innerType?: Schema; // default, prefault, optional
  in?: Schema; // pipe (a transform's input side)
  defaultValue?: unknown;
  element?: Schema; // array
  shape?: Record<string, Schema>; // object
  entries?: Record<string, string | number>; // enum
};

type Field = { description: string; label?: string; defaultValue?: unknown; hasDefault: boolean; base: Schema };

const definitionOf = (schema: Schema): Definition => schema._zod.def as unknown as Definition;

/** Looks through the wrappers (default, prefault, pipe) for the description, type label and default of a field. */
function inspect(schema: Schema): Field {
  const field: Field = { description: '', hasDefault: false, base: schema };
  for (let current: Schema | undefined = schema; current; ) {
    field.description ||= z.globalRegistry.get(current)?.description ?? '';
    field.label ??= typeLabels.get(current)?.label;
    field.base = current;
    const definition = definitionOf(current);
    if ((definition.type === 'default' || definition.type === 'prefault') && !field.hasDefault) {
      field.hasDefault = true;
      field.defaultValue = definition.defaultValue;
    }
    current = definition.innerType ?? definition.in;
  }
  return field;
}

function typeName(field: Field): string {
  if (field.label) return field.label;
  const definition = definitionOf(field.base);
  switch (definition.type) {
    case 'array':
      return `list of ${typeName(inspect(definition.element!))}`;
    case 'object':
    case 'record':
      return 'table';
    case 'enum':
      return `one of ${Object.values(definition.entries ?? {}).map((value) => JSON.stringify(value)).join(', ')}`;
    default:
      return definition.type;
  }
}

/** A default as it would be written in the TOML file. */
function toToml(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(toToml).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)} = ${toToml(item)}`);
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

type Row = { key: string; type: string; defaultValue: string; description: string };

function rows(shape: Record<string, Schema>, prefix: string): Row[] {
  return Object.entries(shape).flatMap(([name, schema]) => {
    const key = prefix + name;
    const field = inspect(schema);
    const definition = definitionOf(field.base);
    if (definition.type === 'object') {
      return [{ key, type: 'table', defaultValue: '', description: field.description }, ...rows(definition.shape!, `${key}.`)];
    }
    const defaultValue = field.hasDefault ? `\`${toToml(field.defaultValue)}\`` : '*(required)*';
    return [{ key, type: typeName(field), defaultValue, description: field.description }];
  });
}

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The configuration reference as a Markdown table, one row per table and key, in schema order. */
export function renderConfigReference(): string {
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const row of rows(definitionOf(configSchema).shape!, '')) {
    lines.push(`| \`${row.key}\` | ${cell(row.type)} | ${cell(row.defaultValue)} | ${cell(row.description)} |`);
  }
  return `${lines.join('\n')}\n`;
}
