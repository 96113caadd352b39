import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubernetesDriver } from '../../activities/kubernetes/driver';
import { kubernetesPreflight } from '../../activities/kubernetes/preflight';
import type { KubernetesTarget } from '../../domain/spec';
import { runKubernetesRow } from '../../chaos/rows/kubernetes';
import { kubePlan, NEW_IMAGE, PROXIED, REGIONS, SCENARIOS } from '../../chaos/rows/kubernetes-scenarios';
import { directClient, seedRegion } from '../../chaos/rows/kubernetes-seed';
import { startTestbed, type Testbed } from '../../testbed';
import type { FaultProxy } from '../../testbed/fault-proxy';
import { startRegionProxy, writeKubeconfigVia } from '../../testbed/proxied';
import { startTestCluster, type TestCluster } from '../support/cluster';
import { tempDir } from '../support/temp-dir';

let tb: Testbed;
let cluster: TestCluster;

beforeAll(async () => {
  [tb, cluster] = await Promise.all([startTestbed({ dir: tempDir('meridian-testbed-'), regions: [...REGIONS], log: (line) => console.log(`[testbed] ${line}`) }), startTestCluster()]);
}, 60 * 60_000);

afterAll(async () => {
  await Promise.all([tb?.stop(), cluster?.stop()]);
}, 120_000);

describe('the Kubernetes driver behind a proxy that refuses it', () => {
  let proxy: FaultProxy;
  let target: KubernetesTarget;
  const ns = 'chaos-api-refused';
  const ref = () => ({ rolloutId: 'rollout/web/2.0.0', service: 'web', region: PROXIED, target, key: 'rollout/web/2.0.0/eu-west-1/test' });

  beforeAll(async () => {
    await seedRegion(directClient(tb, PROXIED), ns);
    proxy = await startRegionProxy(tb, PROXIED);
    const kubeconfig = `${tempDir('meridian-chaos-api-')}/kubeconfig`;
    writeKubeconfigVia(tb, kubeconfig, { [PROXIED]: proxy.url });
    target = kubePlan(SCENARIOS.gateway, 'web', ns, { kubeconfig, contexts: tb.contexts }).regions[PROXIED]!.target as KubernetesTarget;
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
  });

  const failureOf = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err as ApplicationFailure);

  it('fails a 403 for good on the first refused request, with the region, verb and resource in its details', async () => {
    proxy.deny({ status: 403, verbs: ['patch'], resource: 'deployments.apps', namespace: ns });
    const err = await failureOf(kubernetesDriver().deployCanary({ ...ref(), image: NEW_IMAGE, config: {} }));
    proxy.lift();
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect({ type: err!.type, nonRetryable: err!.nonRetryable }).toEqual({ type: 'Kube403', nonRetryable: true });
    expect(err!.details).toEqual([
      { region: PROXIED, context: target.context, namespace: ns, call: `apply Deployment ${ns}/web-canary`, status: 403, reason: 'Forbidden', verb: 'patch', resource: 'deployments.apps', name: 'web-canary' },
    ]);
    expect(proxy.stats().denied).toEqual([{ status: 403, verb: 'patch', resource: 'deployments.apps', namespace: ns, name: 'web-canary' }]);
  });

  it('fails a 401 for good without a retry, naming the object it could not read', async () => {
    const before = proxy.stats().denied.length;
    proxy.deny({ status: 401, namespace: ns });
    const err = await failureOf(kubernetesDriver().snapshot(ref()));
    proxy.lift();
    expect({ type: err!.type, nonRetryable: err!.nonRetryable }).toEqual({ type: 'Kube401', nonRetryable: true });
    expect(err!.details?.[0]).toMatchObject({ region: PROXIED, namespace: ns, status: 401, verb: 'get', resource: 'deployments.apps', name: 'web' });
    expect(proxy.stats().denied.length - before).toBe(1);
  });

  it('preflight reports a 401 as a problem of the region after one request, and rides out transient answers', async () => {
    const before = proxy.stats().denied.length;
    proxy.deny({ status: 401 });
    const refused = await kubernetesPreflight({ region: PROXIED, target });
    proxy.lift();
    expect(refused.map((p) => p.region)).toEqual([PROXIED]);
    expect(proxy.stats().denied.length - before).toBe(1);

    proxy.setShares({ conflict: 0.1, throttle: 0.1, unavailable: 0.05 });
    const problems = await kubernetesPreflight({ region: PROXIED, target });
    proxy.setShares({});
    expect(problems).toEqual([]);
    const { faults } = proxy.stats();
    expect(faults.conflict + faults.throttle + faults.unavailable).toBeGreaterThan(0);
  });
});

describe('R4: Kubernetes API faults', () => {
  it('every rollout ends right in both clusters, and a 401 or 403 stops its region at once', async () => {
    const lines: string[] = [];
    const result = await runKubernetesRow({ cluster: cluster.state, size: 'ci', workDir: tempDir('meridian-chaos-r4-'), log: (line) => lines.push(line) }, tb);
    const problems = [...(result.problems ?? []), ...result.checks.flatMap((c) => c.problems.map((p) => `${c.rolloutId}: ${p}`))];
    expect(problems, lines.join('\n')).toEqual([]);
    expect({ rollouts: result.rollouts, consistent: result.consistent, inconsistent: result.inconsistent, duplicates: result.duplicates, stuck: result.stuck }).toEqual({
      rollouts: 4,
      consistent: 4,
      inconsistent: 0,
      duplicates: 0,
      stuck: 0,
    });
    expect(result.checks.map((c) => [c.scenario, c.phase])).toEqual([
      ['gatewayAPI through API faults', 'Succeeded'],
      ['replicas through API faults', 'Succeeded'],
      ['403 on patch deployments mid-rollout', 'RolledBack'],
      ['401 on everything mid-rollout, credentials restored, retried', 'RolledBack'],
    ]);
    for (const [kind, n] of Object.entries(result.faults)) expect(n, kind).toBeGreaterThan(0);
    expect(Object.keys(result.faults)).toHaveLength(8);
  }, 900_000);
});
