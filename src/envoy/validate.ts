// Checks an Envoy resource the way Envoy does when it loads config: it must encode against Envoy's
// protos, and every protoc-gen-validate rule written into them (`(validate.rules)`, kept by
// protobufjs in each field's options) must hold. Collects every error with its field path.
import protobuf from 'protobufjs';
import { envoyRoot, typeForUrl } from './protos.js';

export interface ValidationResult {
  valid: boolean;
  errors: string[];
}

type Obj = Record<string, unknown>;

function isSet(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  if (value && typeof value === 'object' && 'low' in (value as Obj)) return Number(value);
  return undefined;
}

function durationSeconds(value: unknown): number | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const d = value as { seconds?: unknown; nanos?: unknown };
  return (numberOf(d.seconds) ?? 0) + (numberOf(d.nanos) ?? 0) / 1e9;
}

function checkScalarRules(rules: Obj, kind: string, value: unknown, path: string, errors: string[]): void {
  const rule = (name: string) => rules[`(validate.rules).${kind}.${name}`];
  if (kind === 'string') {
    const s = typeof value === 'string' ? value : '';
    const minLen = numberOf(rule('min_len'));
    if (minLen !== undefined && s.length < minLen) errors.push(`${path}: must be at least ${minLen} characters`);
    const minBytes = numberOf(rule('min_bytes'));
    if (minBytes !== undefined && Buffer.byteLength(s) < minBytes)
      errors.push(`${path}: must be at least ${minBytes} bytes`);
    const maxBytes = numberOf(rule('max_bytes'));
    if (maxBytes !== undefined && Buffer.byteLength(s) > maxBytes)
      errors.push(`${path}: must be at most ${maxBytes} bytes`);
    return;
  }
  const n = numberOf(value) ?? 0;
  const bound = (name: string, ok: (b: number) => boolean, text: string) => {
    const b = numberOf(rule(name));
    if (b !== undefined && !ok(b)) errors.push(`${path}: ${n} must be ${text} ${b}`);
  };
  bound('gt', (b) => n > b, '>');
  bound('gte', (b) => n >= b, '>=');
  bound('lt', (b) => n < b, '<');
  bound('lte', (b) => n <= b, '<=');
}

function walk(type: protobuf.Type, value: Obj, path: string, errors: string[]): void {
  // fromObject ignores unknown keys (a camelCase or misspelt field would vanish): name them.
  for (const key of Object.keys(value)) {
    if (key !== '@type' && type.fields[key] === undefined)
      errors.push(`${path === '' ? '' : path + '.'}${key}: no such field in ${type.name}`);
  }
  for (const field of type.fieldsArray) {
    const v = value[field.name];
    const where = path === '' ? field.name : `${path}.${field.name}`;
    const options = field.options ?? {};
    // A required field inside a oneof is only required when its case is the one chosen.
    if (options['(validate.rules).message.required'] === true && !isSet(v) && !field.partOf)
      errors.push(`${where}: is required`);
    const minItems = numberOf(options['(validate.rules).repeated.min_items']);
    if (minItems !== undefined && (!Array.isArray(v) || v.length < minItems))
      errors.push(`${where}: needs at least ${minItems} item(s)`);
    const minPairs = numberOf(options['(validate.rules).map.min_pairs']);
    if (minPairs !== undefined && (!v || Object.keys(v).length < minPairs))
      errors.push(`${where}: needs at least ${minPairs} entr(ies)`);
    if (!isSet(v)) continue;
    const items: unknown[] = field.repeated && Array.isArray(v) ? v : field.map ? Object.values(v as Obj) : [v];
    items.forEach((item, i) => {
      const itemPath = field.repeated ? `${where}[${i}]` : field.map ? `${where}[${Object.keys(v as Obj)[i]}]` : where;
      const resolved = field.resolvedType;
      if (resolved instanceof protobuf.Enum) {
        // protobufjs drops an unknown enum name silently, so every name is checked, not just defined_only ones.
        const known =
          typeof item === 'string'
            ? item in resolved.values
            : options['(validate.rules).enum.defined_only'] !== true ||
              Object.values(resolved.values).includes(item as number);
        if (!known) errors.push(`${itemPath}: ${String(item)} is not a value of ${resolved.name}`);
        return;
      }
      if (resolved instanceof protobuf.Type) {
        if (resolved.fullName === '.google.protobuf.Duration') {
          const secs = durationSeconds(item);
          const gte = durationSeconds(options['(validate.rules).duration.gte']);
          if (secs !== undefined && gte !== undefined && secs < gte)
            errors.push(`${itemPath}: duration must be >= ${gte}s`);
          const gt = durationSeconds(options['(validate.rules).duration.gt']);
          if (secs !== undefined && gt !== undefined && secs <= gt)
            errors.push(`${itemPath}: duration must be > ${gt}s`);
          return;
        }
        if (resolved.fullName === '.google.protobuf.Any') {
          const typeUrl = (item as Obj)['@type'];
          if (typeof typeUrl !== 'string') {
            errors.push(`${itemPath}: Any without @type`);
            return;
          }
          let inner: protobuf.Type;
          try {
            inner = typeForUrl(typeUrl);
          } catch {
            errors.push(`${itemPath}: unknown type ${typeUrl}`);
            return;
          }
          walk(inner, item as Obj, itemPath, errors);
          return;
        }
        if (resolved.fullName === '.google.protobuf.Struct') {
          if (Object.keys(item as Obj).some((k) => k !== 'fields'))
            errors.push(`${itemPath}: a Struct must be written as {fields: {...}} (see envoy/struct.ts)`);
          // Values are checked against the Value type protobufjs really uses (its own camelCase copy).
          const valueType = envoyRoot().lookupType('google.protobuf.Value');
          for (const [key, v] of Object.entries(((item as Obj).fields ?? {}) as Obj))
            walk(valueType, (v ?? {}) as Obj, `${itemPath}.fields[${key}]`, errors);
          return;
        }
        walk(resolved, item as Obj, itemPath, errors);
        return;
      }
      for (const kind of ['string', 'uint32', 'int32', 'uint64', 'int64', 'double', 'float']) {
        if (Object.keys(options).some((k) => k.startsWith(`(validate.rules).${kind}.`)))
          checkScalarRules(options, kind, item, itemPath, errors);
      }
    });
  }
  for (const oneof of type.oneofsArray) {
    if (oneof.options?.['(validate.required)'] === true && !oneof.oneof.some((name) => isSet(value[name]))) {
      errors.push(`${path === '' ? '' : path + '.'}${oneof.name}: one of ${oneof.oneof.join(', ')} is required`);
    }
  }
}

/** Validates one resource of the given type URL, then proves it encodes and decodes losslessly. */
export function validateResource(typeUrl: string, resource: Obj): ValidationResult {
  envoyRoot();
  const type = typeForUrl(typeUrl);
  const errors: string[] = [];
  walk(type, resource, '', errors);
  try {
    type.decode(type.encode(type.fromObject(resource)).finish());
  } catch (err) {
    errors.push(`does not encode: ${(err as Error).message}`);
  }
  return { valid: errors.length === 0, errors };
}
