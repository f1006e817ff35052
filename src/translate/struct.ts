// google.protobuf.Struct in its proto form ({fields: {k: Value}}): protobufjs does not convert
// plain JSON objects into Structs and would silently drop them.

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function toValue(value: Json): Record<string, unknown> {
  if (value === null) return { null_value: 'NULL_VALUE' };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(toValue) } };
  return { struct_value: toStruct(value) };
}

export function toStruct(object: { [key: string]: Json }): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(object)) fields[key] = toValue(object[key]!);
  return { fields };
}

/** The inverse, for readers of metadata (the activator, the gateway, tests). */
export function fromStruct(struct: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (struct as { fields?: Record<string, Record<string, unknown>> } | undefined)?.fields ?? {};
  for (const key of Object.keys(fields)) out[key] = fromValue(fields[key]!);
  return out;
}

function fromValue(value: Record<string, unknown>): unknown {
  if ('string_value' in value) return value.string_value;
  if ('number_value' in value) return value.number_value;
  if ('bool_value' in value) return value.bool_value;
  if ('struct_value' in value) return fromStruct(value.struct_value);
  if ('list_value' in value) return ((value.list_value as { values?: Array<Record<string, unknown>> }).values ?? []).map(fromValue);
  return null;
}
