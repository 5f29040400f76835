// Renders the configuration reference (a Markdown table) from the schema, so that the
// documented keys, types, defaults and descriptions cannot drift from the code.

import type { Field } from './fields.ts';
import { configSchema } from './schema.ts';

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

function rows(shape: Readonly<Record<string, Field<unknown>>>, prefix: string): Row[] {
  return Object.entries(shape).flatMap(([name, field]) => {
    const key = prefix + name;
    if (field.shape) {
      return [{ key, type: 'table', defaultValue: '', description: field.description }, ...rows(field.shape, `${key}.`)];
    }
    const defaultValue = field.fallback ? `\`${toToml(field.fallback.value)}\`` : '*(required)*';
    const row = { key, type: field.type, defaultValue, description: field.description };
    // A list of tables ([[key]] in TOML): the keys of each element follow, as key[].name.
    return field.items?.shape ? [row, ...rows(field.items.shape, `${key}[].`)] : [row];
  });
}

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The configuration reference as a Markdown table, one row per table and key, in schema order. */
export function renderConfigReference(): string {
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const row of rows(configSchema.shape!, '')) {
    lines.push(`| \`${row.key}\` | ${cell(row.type)} | ${cell(row.defaultValue)} | ${cell(row.description)} |`);
  }
  return `${lines.join('\n')}\n`;
}
