// `gatehouse <command>`: parses arguments and hands off to each component's entry point.
import { Command, Option } from 'commander';
import { parseLevel, setLogLevel } from '../log/logger.js';
import { registerCommands } from './commands.js';

const program = new Command('gatehouse')
  .description('A serverless data plane: xDS control server, activator, queue-proxy and autoscaler, Knative-compatible')
  .version('0.1.0')
  .addOption(new Option('--log-level <level>', 'debug, info, warn or error').env('GATEHOUSE_LOG_LEVEL').default('info'))
  .hook('preAction', (cmd) => {
    const raw = cmd.opts<{ logLevel: string }>().logLevel;
    const level = parseLevel(raw);
    if (level === undefined) return cmd.error(`error: --log-level "${raw}" is not one of debug, info, warn, error`);
    setLogLevel(level);
  });

registerCommands(program);
await program.parseAsync(process.argv);
