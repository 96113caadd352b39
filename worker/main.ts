import '../lib/require-node.js';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectionConfig, connectWorkerConnection, type ConnectionOverrides } from '../client/connection';
import { TASK_QUEUE } from '../workflows/definitions';
import { createWorker, DEFAULT_FLEET_FILE } from './index';

export interface RunWorkerOptions extends ConnectionOverrides {
  taskQueue?: string;
  fleetFile?: string;
  log?: (line: string) => void;
}

/**
 * Connects (TEMPORAL_* variables or a config profile; MERIDIAN_TASK_QUEUE overrides the task queue), polls until SIGINT or SIGTERM, then drains
 * in-flight tasks and closes the connection. The Temporal runtime turns those signals into a worker shutdown.
 */
export async function runWorker(opts: RunWorkerOptions = {}): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const { address } = connectionConfig(opts);
  const { connection, namespace } = await connectWorkerConnection(opts);
  const taskQueue = opts.taskQueue ?? (process.env.MERIDIAN_TASK_QUEUE || TASK_QUEUE);
  const fleetFile = resolve(opts.fleetFile ?? DEFAULT_FLEET_FILE);
  try {
    const worker = await createWorker({ connection, namespace, taskQueue, fleetFile });
    const onSignal = (signal: string) => log(`${signal} received, finishing in-flight tasks`);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const running = worker.run();
    log(`worker polling task queue "${taskQueue}" on ${address} (namespace ${namespace}, fleet ${fleetFile})`);
    try {
      await running;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    log('worker stopped');
  } finally {
    await connection.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runWorker().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
