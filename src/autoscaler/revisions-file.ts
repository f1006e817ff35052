// The standalone autoscaler's input: a YAML list of revisions to run and scale, each shaped like
// the parts of a Knative Revision it needs. Every problem is reported with the file and field.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { RevisionSpec } from '../model/desired.js';

export function loadRevisionsFile(file: string): RevisionSpec[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const list = (doc as { revisions?: unknown })?.revisions;
  if (!Array.isArray(list)) throw new Error(`${file}: expected a top-level "revisions:" list`);
  const errors: string[] = [];
  const specs = list.map((raw, i): RevisionSpec => {
    const r = (raw ?? {}) as Record<string, any>;
    const at = (field: string) => `${file}: revisions[${i}].${field}`;
    if (typeof r.name !== 'string' || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(r.name))
      errors.push(`${at('name')}: expected a Kubernetes name like hello-00001, got ${JSON.stringify(r.name)}`);
    const command = r.container?.command;
    if (!Array.isArray(command) || command.length === 0)
      errors.push(
        `${at('container.command')}: expected the command that starts the app, e.g. [node, examples/app/server.mjs]`,
      );
    const cc = r.containerConcurrency ?? 0;
    if (!Number.isInteger(cc) || cc < 0)
      errors.push(`${at('containerConcurrency')}: expected a whole number, 0 or more, got ${JSON.stringify(cc)}`);
    const service = typeof r.service === 'string' ? r.service : String(r.name ?? '').replace(/-\d{5}$/, '');
    return {
      namespace: typeof r.namespace === 'string' ? r.namespace : 'default',
      name: String(r.name),
      service,
      configuration: service,
      generation: 1,
      containerConcurrency: cc,
      timeoutSeconds: typeof r.timeoutSeconds === 'number' ? r.timeoutSeconds : 300,
      annotations: (r.annotations ?? {}) as Record<string, string>,
      container: {
        command: (command ?? []).map(String),
        args: (r.container?.args ?? []).map(String),
        env: Object.entries((r.container?.env ?? {}) as Record<string, unknown>).map(([name, value]) => ({
          name,
          value: String(value),
        })),
        protocol: 'http1',
        ...(r.container?.readinessProbe ? { readinessProbe: r.container.readinessProbe } : {}),
      },
    };
  });
  if (errors.length > 0) throw new Error(errors.join('\n'));
  return specs;
}
