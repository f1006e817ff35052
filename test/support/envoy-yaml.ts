// Envoy's YAML config in proto form, for validateResource.

/** Envoy writes durations as "1s" in YAML (proto3 JSON); the proto form is {seconds}. */
export function protoDurations(value: unknown): unknown {
  if (typeof value === 'string' && /^\d+(\.\d+)?s$/.test(value)) return { seconds: Number(value.slice(0, -1)) };
  if (Array.isArray(value)) return value.map(protoDurations);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, protoDurations(v)]));
  return value;
}
