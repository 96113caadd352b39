import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeError, type KubeClient } from '../../activities/kubernetes/client';
import { kubernetesDriver } from '../../activities/kubernetes/driver';
import { CONFIGMAP_MAX_BYTES, paths, type Obj } from '../../activities/kubernetes/objects';
import type { RegionRef } from '../../activities/types';
import { RECORDED_CONTRACTS_FAILURE, type RecordedContracts } from '../../domain/recorded-contracts';
import type { KubernetesTarget } from '../../domain/spec';
import { startTestbed, type Testbed } from '../../testbed';
import { recordedContracts } from '../support/recorded-contracts';
import { tempDir } from '../support/temp-dir';
import { kube, uniqueNamespace } from './support';

const REGION = 'eu-west-1';
const CONFIGMAP = 'web-meridian-contracts';

let tb: Testbed;
let c: KubeClient;
const driver = kubernetesDriver();

beforeAll(async () => {
  tb = await startTestbed({ dir: tempDir('meridian-testbed-'), regions: [REGION], log: (line) => console.log(`[testbed] ${line}`) });
  c = kube(tb, tb.contexts[REGION]!);
}, 60 * 60_000);

afterAll(async () => {
  await tb?.stop();
}, 120_000);

/** A fresh namespace, and a ref to the `web` Deployment there as the given version's rollout would name it. */
async function region(): Promise<(version: string) => RegionRef> {
  const namespace = uniqueNamespace('contracts');
  await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const target: KubernetesTarget = {
    kind: 'kubernetes',
    kubeconfig: tb.kubeconfigPath,
    context: tb.contexts[REGION]!,
    namespace,
    deployment: 'web',
    container: 'app',
    progressDeadline: 60_000,
    traffic: { strategy: 'replicas' },
  };
  return (version) => ({ rolloutId: `rollout/web/${version}`, service: 'web', region: REGION, target, key: `rollout/web/${version}/${REGION}/record-contracts` });
}

const namespaceOf = (ref: RegionRef) => (ref.target as KubernetesTarget).namespace;
const configMap = (ref: RegionRef) => c.request<Obj>('GET', paths.configMap(namespaceOf(ref), CONFIGMAP));

async function failureOf(run: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/** `record` with one more provided file, padded so the record is exactly `bytes` bytes as JSON; `é` takes two. */
function padded(record: RecordedContracts, bytes: number): RecordedContracts {
  const withPad = (pad: string): RecordedContracts => ({
    ...record,
    provides: [...record.provides, { contract: 'padding', kind: 'protobuf', files: { 'pad/v1/pad.proto': pad } }],
  });
  const need = bytes - Buffer.byteLength(JSON.stringify(withPad('')), 'utf8');
  const out = withPad('é'.repeat(Math.floor(need / 2)) + 'x'.repeat(need % 2));
  expect(Buffer.byteLength(JSON.stringify(out), 'utf8')).toBe(bytes);
  return out;
}

const v1 = recordedContracts('web', REGION, '1.0.0', 'previous');
const v2 = recordedContracts('web', REGION, '2.0.0', 'next');

describe('recorded contracts in a Kubernetes namespace', () => {
  it('writes one labelled ConfigMap with the record as JSON and the key annotated, and reads it back', async () => {
    const ref = await region();
    expect(await driver.readContracts!(ref('1.0.0'))).toBeUndefined();
    await driver.recordContracts!({ ...ref('1.0.0'), record: v1 });

    const cm = await configMap(ref('1.0.0'));
    expect(Object.keys(cm.data)).toEqual(['contracts.json']);
    expect(cm.binaryData).toBeUndefined();
    expect(JSON.parse(cm.data['contracts.json'])).toEqual(v1);
    expect(cm.metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'meridian',
      'meridian.dev/region': REGION,
      'meridian.dev/role': 'contracts',
      'meridian.dev/contracts-of': 'web',
    });
    expect(cm.metadata.annotations).toEqual({
      'meridian.dev/rollout': 'rollout/web/1.0.0',
      'meridian.dev/contracts-key': `rollout/web/1.0.0/${REGION}/record-contracts`,
    });
    expect(cm.metadata.managedFields.map((f: Obj) => [f.manager, f.operation])).toEqual([['meridian', 'Apply']]);

    expect(await driver.readContracts!(ref('2.0.0'))).toEqual(v1);
  });

  it('changes nothing for the same key twice, and replaces the record under a newer key', async () => {
    const ref = await region();
    await driver.recordContracts!({ ...ref('1.0.0'), record: v1 });
    const first = await configMap(ref('1.0.0'));

    await driver.recordContracts!({ ...ref('1.0.0'), record: v2 });
    const again = await configMap(ref('1.0.0'));
    expect(again.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(JSON.parse(again.data['contracts.json'])).toEqual(v1);

    await driver.recordContracts!({ ...ref('2.0.0'), record: v2 });
    const replaced = await configMap(ref('2.0.0'));
    expect(replaced.metadata.uid).toBe(first.metadata.uid);
    expect(replaced.metadata.annotations['meridian.dev/contracts-key']).toBe(`rollout/web/2.0.0/${REGION}/record-contracts`);
    expect(replaced.metadata.annotations['meridian.dev/rollout']).toBe('rollout/web/2.0.0');
    expect(await driver.readContracts!(ref('3.0.0'))).toEqual(v2);
  });

  it('stores a record of exactly the ConfigMap limit, and refuses one byte more without writing', async () => {
    const ref = await region();
    const largest = padded(v1, CONFIGMAP_MAX_BYTES);
    await driver.recordContracts!({ ...ref('1.0.0'), record: largest });
    expect(await driver.readContracts!(ref('2.0.0'))).toEqual(largest);

    const before = await configMap(ref('1.0.0'));
    const failure = await failureOf(driver.recordContracts!({ ...ref('2.0.0'), record: padded(v2, CONFIGMAP_MAX_BYTES + 1) }));
    expect(failure).toMatchObject({ type: RECORDED_CONTRACTS_FAILURE.tooLarge, nonRetryable: true });
    expect(failure.message).toContain(`web in ${REGION}`);
    expect(failure.message).toContain(`${CONFIGMAP_MAX_BYTES + 1} bytes`);
    expect(failure.message).toContain(`ConfigMap ${namespaceOf(ref('2.0.0'))}/${CONFIGMAP}`);
    expect((await configMap(ref('2.0.0'))).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('the limit is the API server’s own: it rejects a ConfigMap one byte over', async () => {
    const ref = await region();
    const ns = namespaceOf(ref('1.0.0'));
    const create = (name: string, bytes: number) =>
      c.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { 'contracts.json': 'x'.repeat(bytes) } },
      });
    await create('at-limit', CONFIGMAP_MAX_BYTES);
    const err = await create('over-limit', CONFIGMAP_MAX_BYTES + 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(422);
  });

  it('refuses, non-retryable, a malformed record or one of another region, before any call', async () => {
    const ref = await region();
    const broken = { ...v1, consumes: [{ contract: 'payments-api', kind: 'protobuf', files: {} }] } as RecordedContracts;
    const malformed = await failureOf(driver.recordContracts!({ ...ref('1.0.0'), record: broken }));
    expect(malformed).toMatchObject({ type: RECORDED_CONTRACTS_FAILURE.invalid, nonRetryable: true });
    expect(malformed.message).toContain('consumes[0].files: has no files');
    const elsewhere = await failureOf(driver.recordContracts!({ ...ref('1.0.0'), record: { ...v1, service: 'api' } }));
    expect(elsewhere.message).toContain('service: records "api", not "web"');
    expect(await driver.readContracts!(ref('1.0.0'))).toBeUndefined();
  });

  it('fails non-retryable, naming the ConfigMap, when what it holds is not a record', async () => {
    const ref = await region();
    await driver.recordContracts!({ ...ref('1.0.0'), record: v1 });
    const ns = namespaceOf(ref('1.0.0'));
    const overwrite = (data: Record<string, string>) =>
      c.request('PATCH', paths.configMap(ns, CONFIGMAP), { body: { data }, contentType: 'application/merge-patch+json' });

    await overwrite({ 'contracts.json': '{"service": "web",' });
    const notJson = await failureOf(driver.readContracts!(ref('2.0.0')));
    expect(notJson).toMatchObject({ type: RECORDED_CONTRACTS_FAILURE.malformed, nonRetryable: true });
    expect(notJson.message).toContain(`ConfigMap ${ns}/${CONFIGMAP}`);
    expect(notJson.message).toContain('contracts.json is not JSON');

    await overwrite({ 'contracts.json': JSON.stringify({ ...v1, region: 'us-east-1' }) });
    const otherRegion = await failureOf(driver.readContracts!(ref('2.0.0')));
    expect(otherRegion.message).toContain(`region: records "us-east-1", not "${REGION}"`);

    await c.request('PUT', paths.configMap(ns, CONFIGMAP), { body: { ...(await configMap(ref('1.0.0'))), data: {} } });
    const noKey = await failureOf(driver.readContracts!(ref('2.0.0')));
    expect(noKey.message).toContain('no data key contracts.json');
  });
});
