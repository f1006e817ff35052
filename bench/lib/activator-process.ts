// gatehouse's activator as a process of its own for benchmarks, with one revision whose one pod is
// given on the command line (probed before use, as Knative's activator probes): `tsx
// bench/lib/activator-process.ts <host:port> <namespace> <revision> <containerConcurrency>`.
// Prints {"port": N} on stderr once listening.
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator } from '../../src/activator/server.js';
import { createLogger } from '../../src/log/logger.js';

const [pod, namespace, name, cc] = process.argv.slice(2);
const [host, port] = (pod ?? '').split(':');
if (!host || !port || !namespace || !name || cc === undefined) {
  process.stderr.write('usage: activator-process.ts <pod host:port> <namespace> <revision> <containerConcurrency>\n');
  process.exit(2);
}
const source = new InProcessRevisionSource();
source.set({
  namespace,
  name,
  containerConcurrency: Number(cc),
  timeoutSeconds: 300,
  pods: [{ host, port: Number(port) }],
});
const activator = await startActivator({ port: 0, source, log: createLogger('activator') });
process.stderr.write(JSON.stringify({ port: activator.port }) + '\n');
process.once('SIGTERM', () => void activator.close().then(() => process.exit(0)));
