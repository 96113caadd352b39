import { startPrometheus as start } from '../../demo-service/prometheus';
import { requireTool } from '../../lib/tools';

export * from '../../demo-service/prometheus';

/** The Prometheus binary (lib/tools.ts finds it); when there is none, throws the line that says how to install it. */
export function prometheusBinary(): string {
  return requireTool('prometheus');
}

/** Starts Prometheus like the demo does, with the binary the test setup provisioned. */
export const startPrometheus: typeof start = (...args) => {
  process.env.PROMETHEUS_PATH = prometheusBinary();
  return start(...args);
};
