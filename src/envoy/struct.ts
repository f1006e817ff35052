// google.protobuf.Struct in its proto form ({fields: {k: Value}}): protobufjs does not convert
// plain JSON objects into Structs and would silently drop them. Value's fields are spelt the way
// protobufjs's own built-in google/protobuf/struct.proto names them (camelCase: stringValue, ...),
// which is what it uses even when loading with keepCase; the bytes on the wire are the same.

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function toValue(value: Json): Record<string, unknown> {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value) };
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
  if ('stringValue' in value) return value.stringValue;
  if ('numberValue' in value) return value.numberValue;
  if ('boolValue' in value) return value.boolValue;
  if ('structValue' in value) return fromStruct(value.structValue);
  if ('listValue' in value)
    return ((value.listValue as { values?: Array<Record<string, unknown>> }).values ?? []).map(fromValue);
  return null;
}
