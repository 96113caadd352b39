/**
 * The Argo Rollouts side of the side-by-side scenarios, as plain objects: a Rollout with the
 * replica-ratio canary (no traffic router, so the weight is the ReplicaSets' ratio), an
 * AnalysisTemplate on Prometheus, and the abort that `kubectl argo rollouts abort` sends.
 */

export const ROLLOUTS_API = '/apis/argoproj.io/v1alpha1';

export const rolloutPath = (ns: string, name: string) => `${ROLLOUTS_API}/namespaces/${ns}/rollouts/${name}`;
export const rolloutsPath = (ns: string) => `${ROLLOUTS_API}/namespaces/${ns}/rollouts`;
export const analysisTemplatesPath = (ns: string) => `${ROLLOUTS_API}/namespaces/${ns}/analysistemplates`;
export const analysisRunsPath = (ns: string) => `${ROLLOUTS_API}/namespaces/${ns}/analysisruns`;

/** The merge patch on the Rollout's status subresource that aborts it. */
export const ABORT_PATCH = { status: { abort: true } } as const;

export type CanaryStep = { setWeight: number } | { pause: { duration?: string } };

export interface PrometheusAnalysis {
  /** The template's name, and its one metric's. */
  name: string;
  address: string;
  query: string;
  /** The metric fails above this value: `successCondition: result[0] <= max`. */
  max: number;
  /** Between measurements, as Argo Rollouts writes a duration ("2s"). */
  interval: string;
  /** Failed measurements tolerated; the run fails at failureLimit + 1. */
  failureLimit: number;
}

/** An AnalysisTemplate with one Prometheus metric measured every `interval` until the run ends. */
export function analysisTemplate(ns: string, a: PrometheusAnalysis) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name: a.name, namespace: ns },
    spec: {
      metrics: [
        {
          name: a.name,
          interval: a.interval,
          failureLimit: a.failureLimit,
          successCondition: `result[0] <= ${a.max}`,
          provider: { prometheus: { address: a.address, query: a.query } },
        },
      ],
    },
  };
}

export interface RolloutShape {
  name: string;
  replicas: number;
  image: string;
  steps: CanaryStep[];
  /** A background analysis from this step index on, on the named template. */
  analysis?: { template: string; startingStep: number };
}

/** A Rollout of one container named `app`, its pods labelled `app: <name>`. */
export function rolloutObject(ns: string, r: RolloutShape) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: r.name, namespace: ns },
    spec: {
      replicas: r.replicas,
      selector: { matchLabels: { app: r.name } },
      template: {
        metadata: { labels: { app: r.name } },
        spec: { containers: [{ name: 'app', image: r.image, ports: [{ containerPort: 8080 }] }] },
      },
      strategy: {
        canary: {
          steps: r.steps,
          ...(r.analysis ? { analysis: { templates: [{ templateName: r.analysis.template }], startingStep: r.analysis.startingStep } } : {}),
        },
      },
    },
  };
}

/** The JSON patch that releases a new image, as `kubectl argo rollouts set image` does. */
export const setImagePatch = (image: string) => [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }];
