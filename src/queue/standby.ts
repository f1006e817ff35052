// The standby queue-proxy's own entry point (`gatehouse queue --standby` without the CLI): no
// argument parser, no other command's modules, no check of the build, so a spare boots on what the
// queue-proxy itself needs. `gatehouse up` spawns this file directly (see runtime/queue-standby.ts).
import { runQueueProcess } from './process.js';

await runQueueProcess(true);
