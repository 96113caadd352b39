import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { RecordedContract, RecordedContracts } from '../../domain/recorded-contracts';
import { fixtureVersion } from '../fixtures/contracts/load';

const OPENAPI_FIXTURES = resolve(import.meta.dirname, '..', 'fixtures', 'openapi');

/** An OpenAPI fixture folder as a recorded contract, its files keyed by /-separated path. */
export function openapiContract(folder: string, contract = 'orders-http'): RecordedContract {
  const dir = join(OPENAPI_FIXTURES, folder);
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(dir, path).split('\\').join('/')] = readFileSync(path, 'utf8');
  }
  return { contract, kind: 'openapi', files, entry: 'openapi.yaml' };
}

/** What a promotion of `version` would record: a protobuf and an OpenAPI contract provided, a protobuf one consumed. */
export function recordedContracts(service: string, region: string, version: string, side: 'previous' | 'next' = 'previous'): RecordedContracts {
  return {
    service,
    region,
    version,
    image: `registry.test/shop/${service}:${version}`,
    recordedAt: '2025-03-01T10:00:00.000Z',
    provides: [fixtureVersion('add-field', side, 'orders-api'), openapiContract(side === 'previous' ? 'orders-v1' : 'orders-v2-compatible')],
    consumes: [fixtureVersion('change-field-type', side, 'payments-api')],
  };
}
