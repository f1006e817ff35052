// `gatehouse bench SCENARIO`: the k6 scenarios' shapes, run here against the app direct and through
// `gatehouse up`, with a table, a JSON file and an SVG chart.
import { InvalidArgumentError, type Command } from 'commander';
import { wholeNumberArg } from './args.js';

/** "10,50,200" → [10, 50, 200]; each 1-1000. */
function burstSizes(value: string): number[] {
  const sizes = value.split(',').map((part) => Number(part.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 1000))
    throw new InvalidArgumentError(
      'expected burst sizes separated by commas, each a whole number from 1 to 1000, e.g. 10,50,200.',
    );
  return sizes;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description(
      'load-test gatehouse up on this machine: steady, ramp (from zero), rollout, fanout or grpc-ws ' +
        '(ratios against the app hit directly), or burst (N requests at once at a service at zero)',
    )
    .argument('<scenario>', 'steady | ramp | rollout | fanout | grpc-ws | burst')
    .option('--seconds <n>', 'length of the load (bounded: 1-600)', '20')
    .option('--rps <n>', 'requests per second (the ramp’s peak; bounded: 1-20000)', '300')
    .option('--services <n>', 'services for fanout (each starts at zero)', '10')
    .option('--out <dir>', 'where the JSON results and the SVG chart go', '.gatehouse/bench')
    .option(
      '--bursts <sizes>',
      'burst: requests sent at once, one burst per size, each from zero',
      burstSizes,
      [10, 50, 200],
    )
    .option(
      '--cc <n>',
      "burst: the service's containerConcurrency (its autoscaling target too)",
      wholeNumberArg(0, 1000),
      1,
    )
    .option(
      '--app-boot-ms <ms>',
      "burst: the app's STARTUP_DELAY_MS (its boot on top of Node's start)",
      wholeNumberArg(0, 60_000),
      300,
    )
    .option('--request-ms <ms>', 'burst: how long the app takes per request (?delay=)', wholeNumberArg(0, 60_000), 200)
    .option(
      '--zero-grace-seconds <s>',
      "burst: scale-to-zero-grace-period between bursts (Knative's default is 30)",
      wholeNumberArg(0, 600),
      5,
    )
    .action(
      async (
        scenario: string,
        opts: {
          seconds: string;
          rps: string;
          services: string;
          out: string;
          bursts: number[];
          cc: number;
          appBootMs: number;
          requestMs: number;
          zeroGraceSeconds: number;
        },
      ) => {
        if (scenario === 'burst') {
          const { runBurstBench, renderBurst } = await import('../bench/burst.js');
          const result = await runBurstBench({
            sizes: opts.bursts,
            containerConcurrency: opts.cc,
            appBootDelayMs: opts.appBootMs,
            requestDelayMs: opts.requestMs,
            zeroGraceSeconds: opts.zeroGraceSeconds,
            outDir: opts.out,
            say: (line) => process.stderr.write(line + '\n'),
          });
          process.stdout.write(renderBurst(result));
          process.exit(result.rows.every((r) => r.failed === 0) ? 0 : 1);
        }
        const { createLogger } = await import('../log/logger.js');
        const { runBench, renderBench, SCENARIOS, BenchSetupError } = await import('../bench/run.js');
        const fail = (message: string) => {
          process.stderr.write(`gatehouse bench: ${message}\n`);
          process.exit(2);
        };
        if (!(SCENARIOS as readonly string[]).includes(scenario))
          return fail(`unknown scenario "${scenario}"; choose one of ${SCENARIOS.join(', ')}`);
        const bounded = (name: string, raw: string, min: number, max: number) => {
          const n = Number(raw);
          if (!Number.isInteger(n) || n < min || n > max)
            fail(`--${name} "${raw}" must be a whole number from ${min} to ${max}`);
          return n;
        };
        const result = await runBench({
          scenario: scenario as (typeof SCENARIOS)[number],
          seconds: bounded('seconds', opts.seconds, 1, 600),
          rps: bounded('rps', opts.rps, 1, 20_000),
          services: bounded('services', opts.services, 1, 200),
          outDir: opts.out,
          log: createLogger('bench'),
        }).catch((err: unknown) => {
          if (err instanceof BenchSetupError) return fail(err.message);
          throw err;
        });
        process.stdout.write(renderBench(result));
        process.exit(result.gatehouse.failed === 0 ? 0 : 1);
      },
    );
}
