// `gatehouse bench SCENARIO`: the k6 scenarios' shapes, run here against the app direct and through
// `gatehouse up`, with a table, a JSON file and an SVG chart.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('bench')
    .description('load-test gatehouse up on this machine: steady, ramp (from zero), rollout, fanout or grpc-ws; ratios against the app hit directly')
    .argument('<scenario>', 'steady | ramp | rollout | fanout | grpc-ws')
    .option('--seconds <n>', 'length of the load (bounded: 1-600)', '20')
    .option('--rps <n>', 'requests per second (the ramp’s peak; bounded: 1-20000)', '300')
    .option('--services <n>', 'services for fanout (each starts at zero)', '10')
    .option('--out <dir>', 'where the JSON results and the SVG chart go', '.gatehouse/bench')
    .action(async (scenario: string, opts: { seconds: string; rps: string; services: string; out: string }) => {
      const { createLogger } = await import('../log/logger.js');
      const { runBench, renderBench, SCENARIOS } = await import('../bench/run.js');
      const fail = (message: string) => {
        process.stderr.write(`gatehouse bench: ${message}\n`);
        process.exit(2);
      };
      if (!(SCENARIOS as readonly string[]).includes(scenario)) return fail(`unknown scenario "${scenario}"; choose one of ${SCENARIOS.join(', ')}`);
      const bounded = (name: string, raw: string, min: number, max: number) => {
        const n = Number(raw);
        if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} "${raw}" must be a whole number from ${min} to ${max}`);
        return n;
      };
      const result = await runBench({
        scenario: scenario as (typeof SCENARIOS)[number],
        seconds: bounded('seconds', opts.seconds, 1, 600),
        rps: bounded('rps', opts.rps, 1, 20_000),
        services: bounded('services', opts.services, 1, 200),
        outDir: opts.out,
        log: createLogger('bench'),
      });
      process.stdout.write(renderBench(result));
      process.exit(result.gatehouse.failed === 0 ? 0 : 1);
    });
}
