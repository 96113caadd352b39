import type { RunningDemoService } from '../demo-service/server';

/** What `read` made of every demo-service version's `/metrics`, by version, at one moment. */
export interface Sample<T> {
  at: number;
  values: Record<string, T>;
}

const SAMPLE_EVERY_MS = 100;

/**
 * Reads every version's `/metrics` every 100 ms until stopped and keeps what `read` makes of it;
 * `stop` resolves with the samples. A round where a version does not answer is left out.
 */
export function sampleMetrics<T>(service: RunningDemoService, read: (metrics: string) => T): { stop(): Promise<Sample<T>[]> } {
  const samples: Sample<T>[] = [];
  let running = true;
  const metricsOf = async (url: string) => read(await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) })).text());
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      const values = await Promise.all(service.versions.map(async (v) => [v.version, await metricsOf(v.url)] as const)).catch(() => undefined);
      if (values) samples.push({ at, values: Object.fromEntries(values) });
      await new Promise((r) => setTimeout(r, Math.max(0, at + SAMPLE_EVERY_MS - Date.now())));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}
