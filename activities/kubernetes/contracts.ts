import { ApplicationFailure } from '@temporalio/common';
import {
  invalidRecordMessage,
  RECORDED_CONTRACTS_FAILURE,
  recordedContractsProblemsFor,
  type RecordedContracts,
} from '../../domain/recorded-contracts';
import type { KubernetesTarget } from '../../domain/spec';
import type { RegionRef } from '../types';
import { clientFor, describeCall, findObject, withKubeRetries } from './client';
import {
  ANNOTATION,
  CONFIGMAP_MAX_BYTES,
  CONTRACTS_DATA_KEY,
  contractsConfigMap,
  contractsConfigMapName,
  contractsData,
  FIELD_MANAGER,
  paths,
  type Obj,
} from './objects';

/** The region's recorded-contracts ConfigMap: its name for messages, its path, and calls to it with Kubernetes' retry rules. */
function configMap(ref: RegionRef, t: KubernetesTarget) {
  const name = `ConfigMap ${t.namespace}/${contractsConfigMapName(t)}`;
  const path = paths.configMap(t.namespace, contractsConfigMapName(t));
  const client = clientFor(t);
  return {
    name,
    path,
    find: () => withKubeRetries({ region: ref.region, target: t, what: `get ${name}` }, () => findObject(client, path)),
    apply: (body: Obj) =>
      withKubeRetries({ region: ref.region, target: t, what: `apply ${name}` }, () =>
        client.request('PATCH', path, { body, contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGER, force: true } }),
      ),
  };
}

function parseRecord(obj: Obj, ref: RegionRef, t: KubernetesTarget, name: string): RecordedContracts {
  const malformed = (why: string) =>
    ApplicationFailure.nonRetryable(
      `${describeCall({ region: ref.region, target: t, what: name })} is malformed: ${why}; fix its data or delete it (the next promotion there records it again)`,
      RECORDED_CONTRACTS_FAILURE.malformed,
    );
  const text = obj.data?.[CONTRACTS_DATA_KEY];
  if (typeof text !== 'string') throw malformed(`it has no data key ${CONTRACTS_DATA_KEY}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw malformed(`${CONTRACTS_DATA_KEY} is not JSON (${(err as Error).message})`);
  }
  const problems = recordedContractsProblemsFor(value, ref.service, ref.region);
  if (problems.length > 0) throw malformed(`${CONTRACTS_DATA_KEY}: ${problems.join('; ')}`);
  return value as RecordedContracts;
}

/** What the last promotion recorded in the target's namespace; undefined when its ConfigMap does not exist. */
export async function readRecordedContracts(ref: RegionRef, t: KubernetesTarget): Promise<RecordedContracts | undefined> {
  const cm = configMap(ref, t);
  const obj = await cm.find();
  return obj === undefined ? undefined : parseRecord(obj, ref, t, cm.name);
}

/**
 * Writes the record into the ConfigMap by server-side apply, with `key` in an annotation: when the
 * ConfigMap already carries `key`, nothing is written. A record over the ConfigMap size limit is
 * refused before any call.
 */
export async function recordContracts(input: RegionRef & { record: RecordedContracts }, t: KubernetesTarget): Promise<void> {
  const problems = recordedContractsProblemsFor(input.record, input.service, input.region);
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(invalidRecordMessage(input.service, input.region, problems), RECORDED_CONTRACTS_FAILURE.invalid);
  }
  const cm = configMap(input, t);
  const data = contractsData(input.record);
  const bytes = Buffer.byteLength(data, 'utf8');
  if (bytes > CONFIGMAP_MAX_BYTES) {
    throw ApplicationFailure.nonRetryable(
      `${input.service} in ${input.region}: the contracts of ${input.record.version} are ${bytes} bytes as JSON, more than the ${CONFIGMAP_MAX_BYTES} bytes ${cm.name} can hold; record fewer or smaller contract files`,
      RECORDED_CONTRACTS_FAILURE.tooLarge,
    );
  }
  const existing = await cm.find();
  if (existing?.metadata?.annotations?.[ANNOTATION.contractsKey] === input.key) return;
  await cm.apply(contractsConfigMap({ target: t, region: input.region, rolloutId: input.rolloutId, key: input.key, data }));
}
