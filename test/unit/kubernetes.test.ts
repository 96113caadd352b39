import { describe, expect, it } from 'vitest';
import { diffFields, digestMismatch, imageDigest, replicaSplit } from '../../domain/kubernetes';
import { kubernetesTarget } from '../../domain/spec';
import { canaryLabels, weightedRules, withRelease } from '../../activities/kubernetes/objects';
import { rolloutState } from '../../activities/kubernetes/readiness';

const gateway = kubernetesTarget.parse({
  kind: 'kubernetes',
  context: 'c',
  namespace: 'shop',
  deployment: 'web',
  traffic: { strategy: 'gatewayAPI', httpRoute: 'web', stableService: 'web' },
});

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

describe('replicaSplit', () => {
  it.each([
    [10, 0, 0, 10],
    [10, 10, 1, 9],
    [10, 25, 3, 8],
    [4, 25, 1, 3],
    [3, 25, 1, 3],
    [3, 50, 2, 2],
    [1, 1, 1, 1],
    [5, 100, 5, 0],
    [0, 50, 0, 0],
  ])('%i replicas at %i%% -> %i canary, %i stable', (total, weight, canary, stable) => {
    expect(replicaSplit(total, weight)).toEqual({ canary, stable });
  });

  it('gives each side a pod while both take traffic', () => {
    for (let total = 1; total <= 12; total++) {
      for (let w = 1; w < 100; w++) {
        const s = replicaSplit(total, w);
        expect(s.canary).toBeGreaterThanOrEqual(1);
        expect(s.stable).toBeGreaterThanOrEqual(1);
        expect(s.canary + s.stable).toBeLessThanOrEqual(total + 1);
      }
    }
  });

});

describe('image digests', () => {
  it('reads a pinned digest and ignores tags', () => {
    expect(imageDigest(`registry.example/shop/web@${D1}`)).toBe(D1);
    expect(imageDigest('registry.example/shop/web:1.2.3')).toBeUndefined();
  });

  it('names the regions of each digest when they differ', () => {
    const images = [
      { region: 'eu-west-1', image: `eu.registry.example/web@${D1}` },
      { region: 'us-east-1', image: `us.registry.example/web@${D2}` },
      { region: 'ap-south-1', image: 'ap.registry.example/web:1.2.3' },
    ];
    const message = digestMismatch(images)!;
    expect(message).toContain('eu-west-1');
    expect(message).toContain('us-east-1');
    expect(message).not.toContain('ap-south-1');
    expect(digestMismatch([images[0]!, { region: 'x', image: `mirror.example/web@${D1}` }, images[2]!])).toBeUndefined();
  });
});

describe('diffFields', () => {
  it('matches named list items by name and spells out each change', () => {
    const before = { spec: { containers: [{ name: 'app', image: 'web:1', env: [{ name: 'A', value: '1' }] }, { name: 'side', image: 's:1' }] } };
    const after = { spec: { containers: [{ name: 'side', image: 's:1' }, { name: 'app', image: 'web:2', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }] } };
    expect(diffFields(before, after, 'spec.template')).toEqual([
      'spec.template.spec.containers[app].env[B]: added {"name":"B","value":"2"}',
      'spec.template.spec.containers[app].image: "web:1" -> "web:2"',
    ]);
  });

  it('finds nothing in equal objects whatever the key order', () => {
    expect(diffFields({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it('reports removed fields', () => {
    expect(diffFields({ replicas: 3, paused: true }, { replicas: 3 })).toEqual(['paused: removed (was true)']);
  });
});

describe('kubernetes objects', () => {
  const target = kubernetesTarget.parse({ kind: 'kubernetes', context: 'c', namespace: 'shop', deployment: 'web', container: 'app' });
  const template = {
    metadata: { labels: { app: 'web', tier: 'front' } },
    spec: { containers: [{ name: 'sidecar', image: 'proxy:1' }, { name: 'app', image: 'web:1', env: [{ name: 'MODE', value: 'old' }, { name: 'KEEP', value: 'x' }] }] },
  };

  it('sets the named container image and writes config into its env', () => {
    const t = withRelease(template, target, 'web:2', { MODE: 'new', EXTRA: 'y' });
    expect(t.spec.containers[1]).toEqual({
      name: 'app',
      image: 'web:2',
      env: [{ name: 'KEEP', value: 'x' }, { name: 'MODE', value: 'new' }, { name: 'EXTRA', value: 'y' }],
    });
    expect(t.spec.containers[0].image).toBe('proxy:1');
    expect(template.spec.containers[1]!.image).toBe('web:1');
  });

  it('keeps canary pods behind the shared Service with replicas, and out of the stable Service with gatewayAPI', () => {
    expect(canaryLabels(template, target).pod).toMatchObject({ app: 'web', tier: 'front', 'meridian.dev/role': 'canary' });
    const gw = canaryLabels(template, gateway, { app: 'web' });
    expect(gw.pod.app).toBeUndefined();
    expect(gw.pod).toMatchObject({ tier: 'front', 'meridian.dev/canary-of': 'web' });
    expect(gw.selector).toEqual({ 'meridian.dev/role': 'canary', 'meridian.dev/canary-of': 'web' });
  });

  it('splits a route between the stable and canary Services on the same port', () => {
    const rules = [
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ group: '', kind: 'Service', name: 'web', port: 80, weight: 1 }] },
      { backendRefs: [{ name: 'other', port: 81 }] },
    ];
    const at25 = weightedRules(rules, 'web', 'web-canary', 25);
    expect(at25[0]!.backendRefs).toEqual([
      { group: '', kind: 'Service', name: 'web', port: 80, weight: 75 },
      { group: '', kind: 'Service', name: 'web-canary', port: 80, weight: 25 },
    ]);
    expect(at25[1]).toEqual(rules[1]);
    expect(weightedRules(at25, 'web', 'web-canary', 50)[0]!.backendRefs.map((r: { weight: number }) => r.weight)).toEqual([50, 50]);
  });
});

describe('rolloutState', () => {
  const d = (spec: number, status: Record<string, unknown>, generation = 2) => ({ metadata: { generation }, spec: { replicas: spec }, status });

  it('is ready only once the controller saw the change and every pod is updated and available', () => {
    expect(rolloutState(d(3, { observedGeneration: 1, updatedReplicas: 3, availableReplicas: 3, replicas: 3 })).ready).toBe(false);
    expect(rolloutState(d(3, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 3, replicas: 4 })).ready).toBe(false);
    expect(rolloutState(d(3, { observedGeneration: 2, updatedReplicas: 3, availableReplicas: 3, replicas: 3 })).ready).toBe(true);
    expect(rolloutState(d(0, { observedGeneration: 2 })).ready).toBe(true);
  });

  it('reports a stall with the Deployment’s own message', () => {
    const stalled = rolloutState(
      d(2, {
        observedGeneration: 2,
        updatedReplicas: 2,
        availableReplicas: 0,
        replicas: 2,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-canary-x" has timed out progressing.' }],
      }),
    );
    expect(stalled.ready).toBe(false);
    expect(stalled.stalled).toBe('ReplicaSet "web-canary-x" has timed out progressing.');
  });
});

describe('deploy/kubernetes/rbac.yaml', () => {
  it('grants exactly the verbs preflight checks for the gatewayAPI strategy', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseAllDocuments } = await import('yaml');
    const { requiredPermissions } = await import('../../activities/kubernetes/preflight');
    const docs = parseAllDocuments(readFileSync(new URL('../../deploy/kubernetes/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON());
    const role = docs.find((d) => d.kind === 'Role');
    const granted = role.rules.flatMap((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}/${v}`))),
    );
    const needed = requiredPermissions(gateway).flatMap((p) => p.verbs.map((v) => `${p.group}/${p.resource}/${v}`));
    expect(granted.sort()).toEqual(needed.sort());
  });
});
