// Knative `serving.knative.dev/v1` Services and Routes, as people write them, from a YAML file of
// one or more documents. Every problem is collected — file, line, field path, what is expected —
// so one run shows them all. Pure apart from reading the file.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { deciderSpecFor, KNATIVE_DEFAULTS, SettingsError, type GlobalAutoscalerConfig } from '../model/autoscaling.js';
import type { ContainerSpec } from '../model/desired.js';

export interface TrafficConfig {
  revisionName?: string;
  /** Route documents may name a configuration (a Service's configuration has the Service's name). */
  configurationName?: string;
  latestRevision: boolean;
  percent: number;
  tag?: string;
}

export interface TemplateConfig {
  /** template.metadata.name: a revision name the user chose ("{service}-{suffix}"). */
  revisionName?: string;
  annotations: Record<string, string>;
  containerConcurrency: number;
  timeoutSeconds: number;
  responseStartTimeoutSeconds?: number;
  idleTimeoutSeconds?: number;
  container: ContainerSpec;
}

export interface ServiceConfig {
  kind: 'Service';
  namespace: string;
  name: string;
  visibility: 'external' | 'cluster-local';
  template: TemplateConfig;
  traffic: TrafficConfig[];
  /** "file:line" of the document, for status messages. */
  source: string;
}

export interface RouteConfig {
  kind: 'Route';
  namespace: string;
  name: string;
  visibility: 'external' | 'cluster-local';
  traffic: TrafficConfig[];
  source: string;
}

export type ResourceConfig = ServiceConfig | RouteConfig;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration:\n  ${problems.join('\n  ')}`,
    );
  }
}

/**
 * Knative's defaults and limits (config-defaults: revision-timeout-seconds, max-revision-timeout-seconds,
 * container-concurrency-max-limit).
 */
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const MAX_TIMEOUT_SECONDS = 600;
export const MAX_CONTAINER_CONCURRENCY = 1000;
const VISIBILITY_LABEL = 'networking.knative.dev/visibility';
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Reads and validates a file; throws ConfigError listing every problem. Annotations are checked
 * against the autoscaler's config (e.g. initial-scale 0 only with allowZeroInitialScale).
 */
export function loadConfigFile(
  file: string,
  autoscaler: GlobalAutoscalerConfig = KNATIVE_DEFAULTS,
  cache?: ParseCache,
): ResourceConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read it: ${(err as Error).message}`]);
  }
  const resources = parseConfig(text, file, autoscaler, cache);
  const problems = missingPaths(resources, path.dirname(path.resolve(file)));
  if (problems.length > 0) throw new ConfigError(problems);
  return resources;
}

/**
 * Relative paths in a container resolve from the folder of the YAML file (workingDir too, and
 * command and args from workingDir when it is given), so a file copied elsewhere breaks them:
 * name the resolved path of a workingDir, a command with a slash or the script of `node <script>`
 * that does not exist.
 */
function missingPaths(resources: ResourceConfig[], fileDir: string): string[] {
  const problems: string[] = [];
  // Services tend to share their app: each path is looked up once per load.
  const seen = new Map<string, boolean>();
  const exists = (p: string) => seen.get(p) ?? seen.set(p, existsSync(p)).get(p)!;
  const at = 'spec.template.spec.containers[0]';
  const rule = `relative paths in command, args and workingDir resolve from the folder of the file (${fileDir})`;
  for (const r of resources) {
    if (r.kind !== 'Service') continue;
    const { command, args, workingDir } = r.template.container;
    const cwd = workingDir === undefined ? fileDir : path.resolve(fileDir, workingDir);
    if (workingDir !== undefined && !exists(cwd)) {
      problems.push(`${r.source}: ${at}.workingDir: ${workingDir} resolves to ${cwd}, which does not exist; ${rule}`);
      continue;
    }
    const argv = [...command, ...args];
    const checks: Array<[string, string | undefined]> = [
      [`command[0]`, command[0]?.includes('/') ? command[0] : undefined],
    ];
    if (command[0] === 'node') {
      const script = argv.slice(1).find((a) => !a.startsWith('-'));
      const index = argv.indexOf(script ?? '');
      const field = index < command.length ? `command[${index}]` : `args[${index - command.length}]`;
      checks.push([field, script !== undefined && /\.[cm]?[jt]s$/.test(script) ? script : undefined]);
    }
    for (const [field, value] of checks) {
      if (value === undefined) continue;
      const resolved = path.resolve(cwd, value);
      if (exists(resolved)) continue;
      const hint = workingDir === undefined ? rule : `relative paths resolve from workingDir (${cwd})`;
      problems.push(`${r.source}: ${at}.${field}: ${value} resolves to ${resolved}, which does not exist; ${hint}`);
    }
  }
  return problems;
}

/**
 * Parsed documents by the line they start on, with their text: an edit re-parses only the documents it
 * touched (or moved to another line, whose messages name it).
 */
export type ParseCache = Map<number, { text: string; resources: ResourceConfig[]; problems: string[] }>;

/** A newline and a `---` line after it (only `\n` ends a line here, as in the line numbers). */
const DOCUMENT_START = /\n---(?=\s|$)/g;

/** The file split at `---` lines (not the first), each piece with the line it starts on. */
function documentChunks(text: string): Array<{ firstLine: number; text: string }> {
  const chunks: Array<{ firstLine: number; text: string }> = [];
  let start = 0;
  let line = 1;
  for (const m of text.matchAll(DOCUMENT_START)) {
    // The piece before ends at that newline.
    const piece = text.slice(start, m.index);
    chunks.push({ firstLine: line, text: piece });
    for (let at = piece.indexOf('\n'); at !== -1; at = piece.indexOf('\n', at + 1)) line++;
    line++;
    start = m.index + 1;
  }
  chunks.push({ firstLine: line, text: text.slice(start) });
  return chunks;
}

function parseChunk(
  text: string,
  firstLine: number,
  file: string,
  autoscaler: GlobalAutoscalerConfig,
): { resources: ResourceConfig[]; problems: string[] } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const problems: string[] = [];
  const resources: ResourceConfig[] = [];
  if (!Array.isArray(docs)) return { resources, problems: [`${file}:${firstLine}: not a YAML stream`] };
  for (const doc of docs) {
    for (const e of doc.errors) problems.push(syntaxProblem(text, e.pos[0], e.message, lines, file, firstLine));
    if (doc.errors.length > 0 || doc.contents === null) continue;
    const resource = new DocReader(doc, file, lines, firstLine - 1, problems, autoscaler).resource();
    if (resource) resources.push(resource);
  }
  return { resources, problems };
}

/**
 * "file:line:column: message" for a YAML syntax error, in the whole file's lines. The yaml
 * library places indentation errors at the start of the line; the column given is the line's
 * first non-blank character, the token that is out of place.
 */
function syntaxProblem(
  text: string,
  offset: number,
  message: string,
  lines: LineCounter,
  file: string,
  firstLine: number,
): string {
  const pos = lines.linePos(offset);
  const lineText = text.split('\n')[pos.line - 1] ?? '';
  const col =
    lineText.slice(0, pos.col - 1).trim() === '' && lineText.trim() !== ''
      ? Math.max(pos.col, lineText.length - lineText.trimStart().length + 1)
      : pos.col;
  const what = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const near = lineText.trim() === '' ? '' : ` (at "${lineText.trim().slice(0, 40)}")`;
  return `${file}:${pos.line + firstLine - 1}:${col}: ${what}${near}`;
}

export function parseConfig(
  text: string,
  file: string,
  autoscaler: GlobalAutoscalerConfig = KNATIVE_DEFAULTS,
  cache?: ParseCache,
): ResourceConfig[] {
  const problems: string[] = [];
  const out: ResourceConfig[] = [];
  const starts = new Set<number>();
  for (const chunk of documentChunks(text)) {
    const cached = cache?.get(chunk.firstLine);
    const parsed = cached?.text === chunk.text ? cached : parseChunk(chunk.text, chunk.firstLine, file, autoscaler);
    if (cache && parsed !== cached) cache.set(chunk.firstLine, { text: chunk.text, ...parsed });
    starts.add(chunk.firstLine);
    out.push(...parsed.resources);
    problems.push(...parsed.problems);
  }
  if (cache) for (const line of cache.keys()) if (!starts.has(line)) cache.delete(line);
  const seen = new Map<string, string>();
  for (const r of out) {
    const key = `${r.kind} ${r.namespace}/${r.name}`;
    if (seen.has(key)) problems.push(`${r.source}: ${key} is also defined at ${seen.get(key)}; names must be unique`);
    else seen.set(key, r.source);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

type Path = Array<string | number>;

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Reads one document, with the line of any node for error messages. */
class DocReader {
  constructor(
    private readonly doc: Document,
    private readonly file: string,
    private readonly lines: LineCounter,
    /** Lines before this document's piece of the file. */
    private readonly lineOffset: number,
    private readonly problems: string[],
    private readonly autoscaler: GlobalAutoscalerConfig,
  ) {}

  private lineOf(path: Path): number {
    for (let p = path; p.length >= 0; p = p.slice(0, -1)) {
      const node = (p.length === 0 ? this.doc.contents : this.doc.getIn(p, true)) as Node | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range)
        return this.lines.linePos(node.range[0]).line + this.lineOffset;
      if (p.length === 0) break;
    }
    return 1 + this.lineOffset;
  }

  problem(path: Path, message: string): void {
    this.problems.push(`${this.file}:${this.lineOf(path)}: ${pathText(path)}: ${message}`);
  }

  get(path: Path): unknown {
    const node = this.doc.getIn(path, true) as Node | undefined;
    if (node === undefined) return undefined;
    return isMap(node) || isSeq(node) ? (node.toJSON() as unknown) : this.doc.getIn(path);
  }

  string(path: Path, required: boolean): string | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) {
      if (required) this.problem(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.problem(path, `expected a string, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }

  int(path: Path, fallback: number, min: number, max: number): number {
    const v = this.get(path);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.problem(path, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }

  stringMap(path: Path): Record<string, string> {
    const v = this.get(path);
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problem(path, 'expected a map of strings');
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
      if (typeof value !== 'string')
        this.problem(
          [...path, k],
          `expected a string (quote numbers: "${String(value)}"), got ${JSON.stringify(value)}`,
        );
      else out[k] = value;
    }
    return out;
  }

  stringList(path: Path): string[] {
    const v = this.get(path);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.problem(path, 'expected a list of strings');
      return [];
    }
    return v.map((item, i) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number' || typeof item === 'boolean') return String(item);
      this.problem([...path, i], `expected a string, got ${JSON.stringify(item)}`);
      return '';
    });
  }

  name(path: Path, what: string, maxLength: number): string {
    const v = this.string(path, true) ?? '';
    if (v !== '' && (!DNS_LABEL.test(v) || v.length > maxLength)) {
      this.problem(
        path,
        `"${v}" is not a valid ${what}: lower-case letters, digits and '-', starting ` +
          `with a letter, ending with a letter or digit, at most ${maxLength} characters`,
      );
    }
    return v;
  }

  resource(): ResourceConfig | undefined {
    const apiVersion = this.get(['apiVersion']);
    const kind = this.get(['kind']);
    if (apiVersion !== 'serving.knative.dev/v1') {
      this.problem(['apiVersion'], `expected serving.knative.dev/v1, got ${JSON.stringify(apiVersion)}`);
      return undefined;
    }
    if (kind !== 'Service' && kind !== 'Route') {
      this.problem(['kind'], `expected Service or Route, got ${JSON.stringify(kind)}`);
      return undefined;
    }
    // Revision names are "{name}-00001": keep room for the suffix within a 63-character label.
    const name = this.name(['metadata', 'name'], 'name', 63 - 6);
    const namespace =
      this.get(['metadata', 'namespace']) === undefined
        ? 'default'
        : this.name(['metadata', 'namespace'], 'namespace', 63);
    const labels = this.stringMap(['metadata', 'labels']);
    const visibilityLabel = labels[VISIBILITY_LABEL];
    if (visibilityLabel !== undefined && visibilityLabel !== 'cluster-local')
      this.problem(
        ['metadata', 'labels', VISIBILITY_LABEL],
        `expected "cluster-local" (or no label for external), got "${visibilityLabel}"`,
      );
    const visibility = visibilityLabel === 'cluster-local' ? 'cluster-local' : 'external';
    const source = `${this.file}:${this.lineOf([])}`;
    if (kind === 'Route') {
      const traffic = this.traffic(['spec', 'traffic'], 'Route');
      return { kind, namespace, name, visibility, traffic, source };
    }
    const template = this.template(name);
    const traffic =
      this.get(['spec', 'traffic']) === undefined
        ? [{ latestRevision: true, percent: 100 }]
        : this.traffic(['spec', 'traffic'], 'Service');
    for (const [i, t] of traffic.entries()) {
      if (t.revisionName !== undefined && !t.revisionName.startsWith(`${name}-`))
        this.problem(
          ['spec', 'traffic', i, 'revisionName'],
          `"${t.revisionName}" is not a revision of service ${name} ` +
            `(its revisions are named ${name}-00001, ${name}-00002, ...)`,
        );
    }
    return { kind, namespace, name, visibility, template, traffic, source };
  }

  private template(service: string): TemplateConfig {
    const t = ['spec', 'template'];
    const revisionName =
      this.get([...t, 'metadata', 'name']) === undefined
        ? undefined
        : this.name([...t, 'metadata', 'name'], 'revision name', 63);
    if (revisionName !== undefined && revisionName !== '' && !revisionName.startsWith(`${service}-`))
      this.problem(
        [...t, 'metadata', 'name'],
        `expected "${service}-<suffix>", as Knative requires, got "${revisionName}"`,
      );
    const annotations = this.stringMap([...t, 'metadata', 'annotations']);
    const spec = [...t, 'spec'];
    const containerConcurrency = this.int([...spec, 'containerConcurrency'], 0, 0, MAX_CONTAINER_CONCURRENCY);
    const timeoutSeconds = this.int([...spec, 'timeoutSeconds'], DEFAULT_TIMEOUT_SECONDS, 1, MAX_TIMEOUT_SECONDS);
    const responseStart =
      this.get([...spec, 'responseStartTimeoutSeconds']) === undefined
        ? undefined
        : this.int([...spec, 'responseStartTimeoutSeconds'], 0, 0, timeoutSeconds);
    const idle =
      this.get([...spec, 'idleTimeoutSeconds']) === undefined
        ? undefined
        : this.int([...spec, 'idleTimeoutSeconds'], 0, 0, MAX_TIMEOUT_SECONDS);
    try {
      deciderSpecFor(annotations, containerConcurrency, this.autoscaler);
    } catch (err) {
      if (!(err instanceof SettingsError)) throw err;
      this.problem([...t, 'metadata', 'annotations'], err.message);
    }
    return {
      ...(revisionName ? { revisionName } : {}),
      annotations,
      containerConcurrency,
      timeoutSeconds,
      ...(responseStart !== undefined ? { responseStartTimeoutSeconds: responseStart } : {}),
      ...(idle !== undefined ? { idleTimeoutSeconds: idle } : {}),
      container: this.container([...spec, 'containers']),
    };
  }

  private container(path: Path): ContainerSpec {
    const list = this.get(path);
    if (!Array.isArray(list) || list.length === 0) {
      this.problem(path, 'expected a list with one container');
      return { command: [], args: [], env: [], protocol: 'http1' };
    }
    if (list.length > 1)
      this.problem(
        path,
        `has ${list.length} containers; gatehouse runs one container per revision (sidecars are not supported)`,
      );
    const c = [...path, 0];
    const image = this.string([...c, 'image'], false);
    const command = this.stringList([...c, 'command']);
    if (command.length === 0)
      this.problem(
        [...c, 'command'],
        'is required: the local runtime starts the app as a process, e.g. ' +
          '[node, app/server.mjs] (image is kept for a Kubernetes backend)',
      );
    const env: ContainerSpec['env'] = [];
    const rawEnv = this.get([...c, 'env']);
    if (rawEnv !== undefined && !Array.isArray(rawEnv)) this.problem([...c, 'env'], 'expected a list of {name, value}');
    (Array.isArray(rawEnv) ? rawEnv : []).forEach((_, i) => {
      const name = this.string([...c, 'env', i, 'name'], true);
      if (this.get([...c, 'env', i, 'valueFrom']) !== undefined)
        this.problem([...c, 'env', i, 'valueFrom'], 'is not supported locally; give the value directly');
      const value = this.get([...c, 'env', i, 'value']);
      if (name !== undefined) env.push({ name, value: value === undefined || value === null ? '' : String(value) });
    });
    const ports = this.get([...c, 'ports']);
    let containerPort: number | undefined;
    let protocol: 'http1' | 'h2c' = 'http1';
    if (ports !== undefined) {
      if (!Array.isArray(ports) || ports.length > 1)
        this.problem([...c, 'ports'], 'expected a list with at most one port, as Knative allows');
      else if (ports.length === 1) {
        containerPort = this.int([...c, 'ports', 0, 'containerPort'], 8080, 1, 65535);
        const portName = this.get([...c, 'ports', 0, 'name']);
        if (portName !== undefined && portName !== 'http1' && portName !== 'h2c')
          this.problem([...c, 'ports', 0, 'name'], `expected http1 or h2c, got ${JSON.stringify(portName)}`);
        if (portName === 'h2c') protocol = 'h2c';
      }
    }
    const probe = this.get([...c, 'readinessProbe']);
    if (probe !== undefined && (typeof probe !== 'object' || probe === null || Array.isArray(probe)))
      this.problem([...c, 'readinessProbe'], 'expected a probe (httpGet, tcpSocket, periodSeconds, ...)');
    else if (probe && 'exec' in probe)
      this.problem([...c, 'readinessProbe', 'exec'], 'is not supported locally; use httpGet or tcpSocket');
    const workingDir = this.string([...c, 'workingDir'], false);
    return {
      ...(image !== undefined ? { image } : {}),
      command,
      args: this.stringList([...c, 'args']),
      env,
      ...(containerPort !== undefined ? { containerPort } : {}),
      protocol,
      ...(probe ? { readinessProbe: probe as Record<string, unknown> } : {}),
      ...(workingDir !== undefined ? { workingDir } : {}),
    };
  }

  private traffic(path: Path, kind: 'Service' | 'Route'): TrafficConfig[] {
    const list = this.get(path);
    if (!Array.isArray(list) || list.length === 0) {
      this.problem(path, 'expected a list of traffic targets');
      return [];
    }
    const out: TrafficConfig[] = [];
    const tags = new Set<string>();
    let sum = 0;
    list.forEach((_, i) => {
      const at = [...path, i];
      const revisionName = this.string([...at, 'revisionName'], false);
      const configurationName = kind === 'Route' ? this.string([...at, 'configurationName'], false) : undefined;
      if (kind === 'Service' && this.get([...at, 'configurationName']) !== undefined)
        this.problem([...at, 'configurationName'], "is not allowed in a Service's traffic; use latestRevision: true");
      const latest = this.get([...at, 'latestRevision']);
      if (latest !== undefined && typeof latest !== 'boolean')
        this.problem([...at, 'latestRevision'], `expected true or false, got ${JSON.stringify(latest)}`);
      const latestRevision = latest === true;
      if (latestRevision && revisionName !== undefined)
        this.problem(at, 'give either revisionName or latestRevision: true, not both');
      if (!latestRevision && revisionName === undefined)
        this.problem(
          at,
          kind === 'Route'
            ? 'needs revisionName, or configurationName with latestRevision: true'
            : 'needs revisionName or latestRevision: true',
        );
      if (kind === 'Route' && latestRevision && configurationName === undefined)
        this.problem(at, 'latestRevision: true needs configurationName in a Route');
      const percent = this.int([...at, 'percent'], 0, 0, 100);
      sum += percent;
      const tag = this.get([...at, 'tag']) === undefined ? undefined : this.name([...at, 'tag'], 'tag', 63);
      if (tag !== undefined) {
        if (tags.has(tag)) this.problem([...at, 'tag'], `"${tag}" is used by another target; tags must be unique`);
        tags.add(tag);
      }
      out.push({
        ...(revisionName !== undefined ? { revisionName } : {}),
        ...(configurationName !== undefined ? { configurationName } : {}),
        latestRevision,
        percent,
        ...(tag !== undefined ? { tag } : {}),
      });
    });
    if (sum !== 100) this.problem(path, `the percents add up to ${sum}; they must add up to 100`);
    return out;
  }
}
