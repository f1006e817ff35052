// Bounded fuzzing of the configuration parser: whatever the bytes, it returns resources or throws a
// ConfigError whose every line names the file and a line number — never anything else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, parseConfig, type ParseCache } from '../../src/config/load.js';

const VALID = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/window: "10s"
    spec:
      containerConcurrency: 10
      timeoutSeconds: 30
      containers:
        - command: [node, app.mjs]
          env:
            - name: TARGET
              value: x
          ports:
            - name: h2c
  traffic:
    - latestRevision: true
      percent: 100
      tag: current
`;

function checkOutcome(text: string): void {
  try {
    parseConfig(text, 'fuzz.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${(err as Error).stack}`);
    for (const problem of err.problems) assert.match(problem, /^fuzz\.yaml(:\d+){0,2}: /, problem);
  }
}

test('arbitrary text never crashes the parser', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), checkOutcome), { numRuns: 500, seed: 42 });
});

test('a valid Service with one line replaced, deleted or duplicated: accepted or clear errors', () => {
  const lines = VALID.split('\n');
  const scalar = fc.oneof(
    fc.constant('-1'),
    fc.constant('"x"'),
    fc.constant('[]'),
    fc.constant('{}'),
    fc.constant('null'),
    fc.constant('1e400'),
    fc.constant('true'),
    fc.string({ maxLength: 12 }),
  );
  const edit = fc.record({
    line: fc.nat({ max: lines.length - 1 }),
    kind: fc.constantFrom('replace-value', 'delete', 'duplicate', 'indent'),
    value: scalar,
  });
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
      const mutated = [...lines];
      for (const e of edits) {
        const at = Math.min(e.line, mutated.length - 1);
        const line = mutated[at] ?? '';
        if (e.kind === 'delete') mutated.splice(at, 1);
        else if (e.kind === 'duplicate') mutated.splice(at, 0, line);
        else if (e.kind === 'indent') mutated[at] = '  ' + line;
        else
          mutated[at] = line.includes(':')
            ? `${line.slice(0, line.indexOf(':') + 1)} ${e.value}`
            : `${line} ${e.value}`;
      }
      checkOutcome(mutated.join('\n'));
    }),
    { numRuns: 400, seed: 7 },
  );
  assert.equal(parseConfig(VALID, 'fuzz.yaml').length, 1);
});

test('a parse cache changes nothing: any sequence of edits parses as the same text would without one', () => {
  const doc = (name: string) => VALID.replace('name: hello', `name: ${name}`);
  const outcome = (run: () => unknown) => {
    try {
      return JSON.stringify(run());
    } catch (err) {
      return err instanceof ConfigError ? `error: ${err.problems.join('\n')}` : `thrown: ${String(err)}`;
    }
  };
  const piece = fc.oneof(
    fc.constantFrom('a', 'b', 'c', 'a').map(doc),
    fc.constantFrom('---\n', '--- \n', '---\r\n', '\n', '----\n', 'kind: [\n', '---'),
  );
  fc.assert(
    fc.property(fc.array(fc.array(piece, { maxLength: 6 }), { minLength: 1, maxLength: 5 }), (versions) => {
      const cache: ParseCache = new Map();
      for (const version of versions) {
        const text = version.join('---\n');
        assert.equal(
          outcome(() => parseConfig(text, 'edit.yaml', undefined, cache)),
          outcome(() => parseConfig(text, 'edit.yaml')),
        );
      }
    }),
    { numRuns: 150 },
  );
});
