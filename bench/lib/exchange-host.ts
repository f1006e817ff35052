// Runs one proxy of a given gatehouse checkout in this process, for bench/before-after.ts:
//   tsx bench/lib/exchange-host.ts <checkout root> activator|gateway <upstream port> [via-activator]
// (a gateway's upstream is the revision's pod, or with `via-activator` its activator, as for a
// revision in proxy mode)
// and prints {"port": N} on stdout once it serves. Only the APIs both the checkout before the
// shared exchange and today's have are used (startActivator, InProcessRevisionSource, translate,
// startXdsServer, startGateway), so the same script measures either.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, role, upstream, via] = process.argv.slice(2);
if (!root || (role !== 'activator' && role !== 'gateway') || !upstream) {
  process.stderr.write('usage: exchange-host.ts <checkout root> activator|gateway <upstream port> [via-activator]\n');
  process.exit(2);
}
const from = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(root, 'src', file)).href) as Promise<T>;
const upstreamPort = Number(upstream);

const { createLogger, setLogLevel } = await from<any>('log/logger.ts');
setLogLevel('warn');
const log = createLogger('bench-host');
let port: number;
if (role === 'activator') {
  const { InProcessRevisionSource } = await from<any>('activator/revision-source.ts');
  const { startActivator } = await from<any>('activator/server.ts');
  const source = new InProcessRevisionSource();
  source.set({
    namespace: 'default',
    name: 'bench-00001',
    containerConcurrency: 0,
    timeoutSeconds: 300,
    pods: [{ host: '127.0.0.1', port: upstreamPort }],
  });
  port = (await startActivator({ port: 0, source, log })).port;
} else {
  const { translate } = await from<any>('translate/index.ts');
  const { startXdsServer } = await from<any>('xds/index.ts');
  const { startGateway } = await from<any>('gateway/index.ts');
  const spec = {
    namespace: 'default',
    name: 'bench-00001',
    service: 'bench',
    configuration: 'bench',
    generation: 1,
    containerConcurrency: 0,
    timeoutSeconds: 300,
    annotations: {},
    container: { command: ['node'], args: [], env: [], protocol: 'http1' },
  };
  const state = {
    domain: 'example.com',
    listeners: { externalPort: 0, localPort: 0, address: '127.0.0.1' },
    routes: [
      {
        namespace: 'default',
        name: 'bench',
        visibility: 'external',
        traffic: [{ revisionName: 'bench-00001', percent: 100 }],
      },
    ],
    revisions: new Map([
      [
        'default/bench-00001',
        {
          spec,
          ...(via === 'via-activator'
            ? { mode: 'proxy', pods: [], activators: [{ host: '127.0.0.1', port: upstreamPort }] }
            : {
                mode: 'serve',
                pods: [{ host: '127.0.0.1', port: upstreamPort }],
                activators: [{ host: '127.0.0.1', port: 1 }],
              }),
        },
      ],
    ]),
  };
  const xds = await startXdsServer({ port: 0, log });
  xds.cache.setTranslation(translate(state));
  const gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId: 'bench', log });
  await gateway.ready;
  port = gateway.listenerPorts().get('gatehouse-external');
  // Routes and clusters follow the listener: wait until the route answers.
  for (;;) {
    // node:http, not fetch: fetch does not send a Host header of its own choosing.
    const status = await new Promise<number | undefined>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', headers: { host: 'bench.default.example.com' } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .once('error', () => resolve(undefined));
    });
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 20));
  }
}
// A signal ends the process normally, so --cpu-prof writes its profile.
process.once('SIGTERM', () => process.exit(0));
process.stdout.write(JSON.stringify({ port }) + '\n');
