// The standby queue-proxy's own entry point (`gatehouse queue --standby` without the CLI): no
// argument parser, no other command's modules, no check of the build, so a spare boots on what the
// queue-proxy itself needs. `gatehouse up` spawns this file directly (see runtime/queue-standby.ts).
// With `--pod-waiting` its pod is already waiting (no spare was left): no warm-up, which would cost
// the pod more (a hundred milliseconds of CPU and three round trips) than it saves its first request.
import { runQueueProcess } from './process.js';

await runQueueProcess(true, !process.argv.includes('--pod-waiting'));
