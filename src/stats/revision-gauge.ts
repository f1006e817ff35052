// A Prometheus gauge labelled by revision, read from the component's own state at scrape time, so
// revisions that are gone leave the output with no bookkeeping (the activator's and the autoscaler's).
import client from 'prom-client';

export function revisionGauge<T>(
  registry: client.Registry,
  entries: () => Iterable<readonly [revision: string, state: T]>,
  name: string,
  help: string,
  read: (state: T) => number,
): client.Gauge {
  return new client.Gauge({
    name,
    help,
    labelNames: ['revision'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [revision, state] of entries()) this.set({ revision }, read(state));
    },
  });
}
