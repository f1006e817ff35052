// `gatehouse <command>`: parses arguments and hands off to each component's entry point.
import { Command, Option } from 'commander';
import { parseLevel, setLogFormat, setLogLevel, type LogFormat } from '../log/logger.js';
import { USAGE_EXIT_CODE } from './args.js';
import { registerCommands } from './commands.js';

const program = new Command('gatehouse')
  .description('A serverless data plane: xDS control server, activator, queue-proxy and autoscaler, Knative-compatible')
  .version('0.1.0')
  .addOption(new Option('--log-level <level>', 'debug, info, warn or error').env('GATEHOUSE_LOG_LEVEL').default('info'))
  .addOption(
    new Option(
      '--log-format <format>',
      'json (one object per line) or text; default: text on a terminal, json otherwise',
    ).choices(['json', 'text']),
  )
  .hook('preAction', (cmd) => {
    const { logLevel: raw, logFormat } = cmd.opts<{ logLevel: string; logFormat?: LogFormat }>();
    const level = parseLevel(raw);
    if (level === undefined) return cmd.error(`error: --log-level "${raw}" is not one of debug, info, warn, error`);
    setLogLevel(level);
    if (logFormat) setLogFormat(logFormat);
  });

// A wrong argument prints one line and the command's usage, never a stack, and exits 2.
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT_CODE));
registerCommands(program);
for (const command of program.commands) {
  command.showHelpAfterError(
    `Usage: gatehouse ${command.name()} ${command.usage()}\n(\`gatehouse ` +
      `${command.name()} --help\` explains every option)`,
  );
}
await program.parseAsync(process.argv);
