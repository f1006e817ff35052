// Every command, one line each. A command module only declares its options and, in its action,
// imports the component lazily, so `gatehouse queue` never loads the xDS or gRPC stacks.
import type { Command } from 'commander';
import { register as registerActivator } from './activator.js';
import { register as registerAutoscaler } from './autoscaler.js';
import { register as registerBench } from './bench.js';
import { register as registerController } from './controller.js';
import { register as registerGateway } from './gateway.js';
import { register as registerQueue } from './queue.js';
import { register as registerUp } from './up.js';

export function registerCommands(program: Command): void {
  registerQueue(program);
  registerAutoscaler(program);
  registerActivator(program);
  registerGateway(program);
  registerUp(program);
  registerBench(program);
  registerController(program);
}
