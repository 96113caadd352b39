import { requireTool } from '../../lib/tools';

export * from '../../demo-service/prometheus';

/** The Prometheus binary (lib/tools.ts finds it); when there is none, throws the line that says how to install it. */
export function prometheusBinary(): string {
  return requireTool('prometheus');
}
