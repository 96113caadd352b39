import type { MetricSpec, PrometheusProviderSpec } from '../../domain/spec';
import type { MetricContext, MetricProvider } from './provider';
import { escapePromQLString, renderTemplate, templateValues } from './template';
import { authHeaders, excerpt, httpGet, toMetricValue, type Env } from './web';

export interface PrometheusOptions {
  /** Where the worker reads the secrets the spec names; the process environment by default. */
  env?: Env;
  now?: () => number;
}

type Sample = [number, string];
interface Series {
  metric: Record<string, string>;
  value?: Sample;
  values?: Sample[];
}
type QueryData = { resultType: 'vector' | 'matrix'; result: Series[] } | { resultType: 'scalar' | 'string'; result: Sample };

/**
 * Prometheus over its HTTP API. No data (an empty result, NaN) resolves `undefined`; a provider
 * that is down, slow or rejects the query throws an error naming the address and the query.
 */
export function prometheusProvider(options: PrometheusOptions = {}): MetricProvider & { isOnline(metric?: MetricSpec): Promise<boolean> } {
  return {
    type: 'prometheus',
    query: (metric, ctx) => queryPrometheus(prometheusSpec(metric), ctx, options),
    samples: (metric, ctx) => querySamples(prometheusSpec(metric), ctx, { window: prometheusSpec(metric).range?.window ?? DEFAULT_SAMPLE_WINDOW_MS }, options),
    /** Without a metric there is no address to ask, so it counts as online. */
    isOnline: async (metric?: MetricSpec) => (metric ? isPrometheusReady(prometheusSpec(metric), options) : true),
  };
}

/** One value: an instant query, or a range query reduced by `range.reduce`. */
export async function queryPrometheus(
  spec: PrometheusProviderSpec,
  ctx: MetricContext,
  options: PrometheusOptions = {},
): Promise<number | undefined> {
  const query = renderQuery(spec, ctx);
  const now = (options.now ?? Date.now)();
  if (!spec.range) {
    const data = await call(spec, 'query', { query, time: seconds(now) }, options);
    if (data.resultType === 'scalar') return toMetricValue(data.result[1], 'the scalar result');
    if (data.resultType !== 'vector') throw queryError(spec, query, `expected a vector, got a ${data.resultType}`);
    const series = single(spec, query, data.result);
    return series?.value ? toMetricValue(series.value[1], 'the result') : undefined;
  }
  const values = await rangeValues(spec, query, { end: now, window: spec.range.window, step: spec.range.step }, options, true);
  if (values.length === 0) return undefined;
  switch (spec.range.reduce) {
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'max':
      return Math.max(...values);
    case 'last':
      return values[values.length - 1];
  }
}

/** How far back a compare metric's sample sets reach when its query has no `range`. */
export const DEFAULT_SAMPLE_WINDOW_MS = 5 * 60_000;

export interface SampleWindow {
  /** Milliseconds; `range.window` of the spec by default. */
  window?: number;
  /** Milliseconds; `range.step` of the spec, else 15s. */
  step?: number;
  /** Epoch milliseconds; now by default. */
  end?: number;
}

/**
 * The raw values of a range query, oldest first, every series together, NaN dropped: one sample
 * set for a statistical comparison (call it once for the canary and once for the stable role).
 */
export async function querySamples(
  spec: PrometheusProviderSpec,
  ctx: MetricContext,
  window: SampleWindow = {},
  options: PrometheusOptions = {},
): Promise<number[]> {
  const query = renderQuery(spec, ctx);
  const span = window.window ?? spec.range?.window;
  if (span === undefined) throw queryError(spec, query, 'a sample set needs a window: set range.window on the provider');
  const end = window.end ?? (options.now ?? Date.now)();
  return rangeValues(spec, query, { end, window: span, step: window.step ?? spec.range?.step ?? 15_000 }, options, false);
}

/** `/-/ready` answers 200 once Prometheus serves queries; refused connections throw. */
export async function isPrometheusReady(spec: PrometheusProviderSpec, options: PrometheusOptions = {}): Promise<boolean> {
  const url = endpoint(spec.address, '-/ready');
  try {
    const answer = await httpGet(url, { headers: authHeaders(spec.auth, options.env ?? process.env), timeoutMs: spec.timeout, tls: spec.tls });
    return answer.status === 200;
  } catch (err) {
    throw new Error(`prometheus at ${spec.address} is not reachable: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function rangeValues(
  spec: PrometheusProviderSpec,
  query: string,
  range: { end: number; window: number; step: number },
  options: PrometheusOptions,
  oneSeries: boolean,
): Promise<number[]> {
  const params = { query, start: seconds(range.end - range.window), end: seconds(range.end), step: seconds(range.step) };
  const data = await call(spec, 'query_range', params, options);
  if (data.resultType !== 'matrix') throw queryError(spec, query, `expected a matrix, got a ${data.resultType}`);
  const series = oneSeries ? [single(spec, query, data.result)].filter((s) => s !== undefined) : data.result;
  return series
    .flatMap((s) => s.values ?? [])
    .sort((a, b) => a[0] - b[0])
    .map(([, v]) => toMetricValue(v, 'a sample'))
    .filter((v): v is number => v !== undefined);
}

async function call(spec: PrometheusProviderSpec, api: 'query' | 'query_range', params: Record<string, string>, options: PrometheusOptions): Promise<QueryData> {
  const url = endpoint(spec.address, `api/v1/${api}`);
  for (const [k, v] of Object.entries({ ...params, timeout: seconds(spec.timeout) })) url.searchParams.set(k, v);
  const headers = { accept: 'application/json', ...authHeaders(spec.auth, options.env ?? process.env) };
  let answer: { status: number; body: string };
  try {
    answer = await httpGet(url, { headers, timeoutMs: spec.timeout, tls: spec.tls });
  } catch (err) {
    throw queryError(spec, params.query!, `no answer: ${err instanceof Error ? err.message : String(err)}`);
  }
  let body: { status?: string; data?: QueryData; errorType?: string; error?: string } | undefined;
  try {
    body = JSON.parse(answer.body);
  } catch {
    body = undefined;
  }
  if (body?.status === 'error') throw queryError(spec, params.query!, `${body.errorType ?? 'error'}: ${body.error ?? 'no message'}`);
  if (answer.status !== 200 || body?.status !== 'success' || !body.data) {
    throw queryError(spec, params.query!, `HTTP ${answer.status}: ${excerpt(answer.body, headers)}`);
  }
  return body.data;
}

/** A value needs one series; several mean the query was not aggregated. */
function single(spec: PrometheusProviderSpec, query: string, result: Series[]): Series | undefined {
  if (result.length <= 1) return result[0];
  const labels = result.slice(0, 3).map((s) => JSON.stringify(s.metric)).join(', ');
  throw queryError(spec, query, `returned ${result.length} series (${labels}); aggregate it to one, for example with sum(...)`);
}

function renderQuery(spec: PrometheusProviderSpec, ctx: MetricContext): string {
  return renderTemplate(spec.query, templateValues(ctx), escapePromQLString);
}

function queryError(spec: PrometheusProviderSpec, query: string, why: string): Error {
  return new Error(`prometheus at ${spec.address}, query ${query}: ${why}`);
}

function endpoint(address: string, path: string): URL {
  return new URL(`${address.replace(/\/+$/, '')}/${path}`);
}

function seconds(ms: number): string {
  return String(ms / 1000);
}

function prometheusSpec(metric: MetricSpec): PrometheusProviderSpec {
  if (metric.provider.type !== 'prometheus') throw new Error(`metric "${metric.name}" has provider type "${metric.provider.type}", not prometheus`);
  return metric.provider;
}
