// An xDS server in a process of its own, so a test can measure its memory apart from the clients'.
// Run with `node --expose-gc --import tsx`; argv: services, then a JSON of startXdsServer options.
// IPC: { push: k } → the snapshot flips between two translations that differ in every cluster,
// assignment and route (each revision's timeout and pods), answered { pushed: k };
// { memory: true } → after garbage collection, { rss, heapUsed, external } in bytes.
import { startXdsServer } from '../../src/xds/index.js';
import { translate } from '../../src/translate/index.js';
import { createLogger } from '../../src/log/logger.js';
import { desired, revision, route, routing } from './desired.js';

const services = Number(process.argv[2] ?? 2000);
const options = JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>;

function state(k: number) {
  const specs = Array.from({ length: services }, (_, i) => revision(`svc${i}-00001`, { timeoutSeconds: 100 + k }));
  return desired(
    specs.map((s) => route(s.service, [{ revisionName: s.name, percent: 100 }])),
    specs.map((s, i) =>
      routing(s, 'serve', [
        { host: '127.0.0.1', port: 10_000 + ((i + k) % 50_000) },
        { host: '127.0.0.1', port: 20_000 + k },
      ]),
    ),
  );
}

const xds = await startXdsServer({ port: 0, log: createLogger('xds-process'), ...options });
const translations = [translate(state(0)), translate(state(1))];
xds.cache.setTranslation(translations[0]!);
const gc = (globalThis as { gc?: () => void }).gc!;
process.on('message', (m: { push?: number; memory?: boolean; stop?: boolean }) => {
  if (m.push !== undefined) {
    xds.cache.setTranslation(translations[m.push % 2]!);
    process.send!({ pushed: m.push });
  } else if (m.memory) {
    for (let i = 0; i < 3; i++) gc();
    const { rss, heapUsed, external } = process.memoryUsage();
    process.send!({ rss, heapUsed, external });
  } else if (m.stop) {
    void xds.close().then(() => process.exit(0));
  }
});
process.send!({ port: xds.port });
