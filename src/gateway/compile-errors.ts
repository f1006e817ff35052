// What every resource compiler shares: the errors of one update (each with its field path), the
// unpacking of Any fields, durations, and compiling a resource once per decoded object.
import type { AnyMessage, Duration } from '../envoy/envoy-types.js';

export class ConfigErrors {
  readonly messages: string[] = [];
  add(path: string, message: string): void {
    this.messages.push(`${path}: ${message}`);
  }
  /** Every field set on `object` that is not in `supported`: the gateway would serve it differently from Envoy. */
  unsupported<T extends object>(object: T | undefined, path: string, supported: readonly (keyof T & string)[]): void {
    if (!object) return;
    for (const key of Object.keys(object)) {
      if (key === '@type' || (supported as readonly string[]).includes(key)) continue;
      this.add(`${path}.${key}`, 'is not supported by the embedded gateway (use Envoy for this resource)');
    }
  }
  get empty(): boolean {
    return this.messages.length === 0;
  }
  toString(): string {
    return this.messages.join('; ');
  }
}

/** The message name of a type URL or of an Any's "@type" (any prefix before the last slash). */
export function messageName(typeUrl: string | undefined): string {
  const url = typeUrl ?? '';
  return url.slice(url.lastIndexOf('/') + 1);
}

/** The message an Any holds, when it is of the given type (the decoder expanded it in place); else undefined. */
export function unpack<T>(any: AnyMessage | undefined, typeUrl: string): T | undefined {
  return any !== undefined && messageName(any['@type']) === messageName(typeUrl) ? (any as T) : undefined;
}

export function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6);
}

/** Set in the decoded object (proto3 leaves unset message and oneof fields out). */
export function isSet<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

/**
 * Compiles a resource once per decoded object: the xDS client hands unchanged resources back as
 * the same object, so with thousands of them an update only compiles what changed. Only clean
 * results are kept; a resource with problems is compiled again so its errors name this update.
 */
export function memoized<R extends object, T>(
  compile: (r: R, path: string, errors: ConfigErrors) => T,
): (r: R, path: string | ((r: R) => string), errors: ConfigErrors) => T {
  const memo = new WeakMap<R, T>();
  return (r, path, errors) => {
    const known = memo.get(r);
    if (known !== undefined || memo.has(r)) return known!;
    const own = new ConfigErrors();
    // A path given as a function is only built when the resource is compiled.
    const result = compile(r, typeof path === 'string' ? path : path(r), own);
    if (own.empty) memo.set(r, result);
    else errors.messages.push(...own.messages);
    return result;
  };
}
