import { describe, expect, it } from 'vitest';
import { consumerNeeds, contractBreaking } from '../../activities/contracts/check';
import { openapiBreaking } from '../../activities/contracts/openapi';
import { CONTRACT_FAILURE, type BreakingChange, type ContractVersion } from '../../domain/contract-verdict';
import { fixtureVersion } from '../fixtures/contracts/load';
import { OPENAPI_ENTRY, openapiVersion } from '../fixtures/openapi/load';

const ORDER = 'schemas/order.yaml';
const v1 = openapiVersion('orders-v1');
const pick = (changes: BreakingChange[]) => changes.map(({ element, rule, path }) => ({ element, rule, path }));

/** The version with one exact piece of one file replaced; the piece must be there. */
function edit(version: ContractVersion, file: string, from: string, to: string): ContractVersion {
  expect(version.files[file], `${file} holds ${JSON.stringify(from)}`).toContain(from);
  return { ...version, files: { ...version.files, [file]: version.files[file]!.replace(from, to) } };
}

const failure = (run: Promise<unknown>) => run.then(() => undefined, (e: unknown) => e);

describe('contractBreaking, with the real buf and oasdiff', () => {
  it('names a removed protobuf field', async () => {
    const changes = await contractBreaking(fixtureVersion('remove-field', 'previous'), fixtureVersion('remove-field', 'next'));
    expect(pick(changes)).toEqual([
      { element: 'field Order.currency (#3)', rule: 'FIELD_NO_DELETE_UNLESS_NAME_RESERVED', path: 'orders.proto' },
      { element: 'field Order.currency (#3)', rule: 'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED', path: 'orders.proto' },
    ]);
  });

  it('names a removed OpenAPI response field on each operation that returns it, where the previous version had it', async () => {
    const changes = await contractBreaking(v1, openapiVersion('orders-v2-without-total'));
    expect(changes).toEqual([
      { contract: 'orders-http', element: 'response field items/total of GET /orders', rule: 'response-required-property-removed', message: expect.stringContaining('`items/total`'), path: ORDER, line: 9, column: 5 },
      { contract: 'orders-http', element: 'response field total of GET /orders/{id}', rule: 'response-required-property-removed', message: expect.stringContaining('`total`'), path: ORDER, line: 9, column: 5 },
    ]);
  });

  it.each([
    ['protobuf', fixtureVersion('add-field', 'previous'), fixtureVersion('add-field', 'next')],
    ['OpenAPI', v1, openapiVersion('orders-v2-compatible')],
  ])('finds nothing in an additive %s change', async (_kind, previous, next) => {
    expect(await contractBreaking(previous, next)).toEqual([]);
  });

  it('names a removed path and a parameter that became required by their operation', async () => {
    const withoutCancel = edit(v1, OPENAPI_ENTRY, v1.files[OPENAPI_ENTRY]!.slice(v1.files[OPENAPI_ENTRY]!.indexOf('  /orders/{id}/cancel:')), '');
    expect(pick(await contractBreaking(v1, withoutCancel))).toEqual([{ element: 'path POST /orders/{id}/cancel', rule: 'api-path-removed-without-deprecation', path: OPENAPI_ENTRY }]);
    const limitRequired = edit(v1, OPENAPI_ENTRY, 'in: query\n          required: false', 'in: query\n          required: true');
    expect(pick(await contractBreaking(v1, limitRequired))).toEqual([{ element: 'request parameter limit (query) of GET /orders', rule: 'request-parameter-became-required', path: OPENAPI_ENTRY }]);
  });

  it('leaves out what oasdiff only warns of', async () => {
    const withoutLimit = edit(v1, OPENAPI_ENTRY, '      parameters:\n        - name: limit\n          in: query\n          required: false\n          schema:\n            type: integer\n', '');
    expect((await openapiBreaking(v1.files, withoutLimit.files, OPENAPI_ENTRY)).map((f) => [f.id, f.level])).toEqual([['request-parameter-removed', 'WARN']]);
    expect(await contractBreaking(v1, withoutLimit)).toEqual([]);
  });

  it('follows a root document that was renamed', async () => {
    const next = openapiVersion('orders-v2-without-total');
    const { [OPENAPI_ENTRY]: root, ...rest } = next.files;
    const renamed = { ...next, entry: 'api.yaml', files: { ...rest, 'api.yaml': root! } };
    expect((await contractBreaking(v1, renamed)).map((c) => c.element)).toEqual(['response field items/total of GET /orders', 'response field total of GET /orders/{id}']);
  });
});

describe('consumerNeeds', () => {
  it('finds that a consumer expecting a new protobuf field cannot use the old provider', async () => {
    const changes = await consumerNeeds(fixtureVersion('add-field', 'next'), fixtureVersion('add-field', 'previous'));
    expect(changes.map((c) => c.element)).toContain('field Order.note (#5)');
  });

  it('finds that a consumer expecting a new required response field cannot use the old provider, while an old consumer can use the new one', async () => {
    const v2 = openapiVersion('orders-v2-placed-at-required');
    expect(pick(await consumerNeeds(v2, v1))).toEqual([
      { element: 'response field items/placedAt of GET /orders', rule: 'response-required-property-removed', path: ORDER },
      { element: 'response field placedAt of GET /orders/{id}', rule: 'response-required-property-removed', path: ORDER },
    ]);
    expect(await consumerNeeds(v1, v2)).toEqual([]);
  });
});

describe('what contractBreaking refuses', () => {
  it('versions of two kinds, naming both', async () => {
    const err = await failure(contractBreaking(fixtureVersion('add-field', 'previous'), openapiVersion('orders-v1', 'orders-api')));
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, nonRetryable: true });
    expect((err as Error).message).toBe('cannot compare contract "orders-api" (protobuf) with contract "orders-api" (openapi): both versions must be of one contract and one kind');
  });

  it('versions of two contracts', async () => {
    const err = await failure(contractBreaking(v1, openapiVersion('orders-v1', 'ledger-http')));
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, nonRetryable: true, message: expect.stringContaining('contract "orders-http" (openapi) with contract "ledger-http" (openapi)') });
  });

  it('an OpenAPI version without its entry, before running oasdiff', async () => {
    const err = await failure(contractBreaking(v1, { ...v1, entry: undefined }));
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, nonRetryable: true, message: expect.stringContaining('new version: contract "orders-http" names no entry') });
  });

  it('a new OpenAPI version that does not parse, naming the contract and the file', async () => {
    const err = await failure(contractBreaking(v1, { ...v1, files: { ...v1.files, [ORDER]: 'Order: [broken\n' } }));
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, nonRetryable: true, details: [{ version: 'next', file: ORDER }] });
    expect((err as Error).message).toMatch(/^contract "orders-http" cannot be checked: new version, schemas\/order\.yaml: .*yaml/);
  });

  it('a new protobuf version that does not compile, naming the contract and the file', async () => {
    const err = await failure(contractBreaking(fixtureVersion('syntax-error', 'previous'), fixtureVersion('syntax-error', 'next')));
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, nonRetryable: true, message: expect.stringContaining('contract "orders-api" does not compile:\n  new version, orders.proto:7:3') });
  });

  it('is a failed check, not an invalid contract, when oasdiff cannot run', async () => {
    const err = await failure(contractBreaking(v1, openapiVersion('orders-v2-compatible'), { oasdiff: '/nonexistent/oasdiff' }));
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.checkFailed, nonRetryable: false, message: expect.stringContaining('contract "orders-http": the check did not run: oasdiff validate did not run') });
  });
});
