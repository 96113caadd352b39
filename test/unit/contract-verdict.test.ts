import { describe, expect, it } from 'vitest';
import {
  breakingChanges,
  contractPathProblem,
  contractVersionProblems,
  openapiElementOf,
  parseBufAnnotations,
  protobufPathProblem,
  verdict,
  type BreakingChange,
  type ContractContext,
} from '../../domain/contract-verdict';
import { captured } from '../fixtures/contracts/load';

/** The breaking changes in what buf printed for a fixture case (captured by the activity test from the real buf). */
const changesOf = (name: string) => breakingChanges('orders-api', parseBufAnnotations(captured(name)), 'next');
const elements = (changes: BreakingChange[]) => changes.map((c) => [c.element, c.rule]);

describe('parseBufAnnotations', () => {
  it('reads each line with its position; a package-wide finding has no path', () => {
    expect(parseBufAnnotations(captured('change-field-type'))).toEqual([
      {
        type: 'FIELD_WIRE_JSON_COMPATIBLE_TYPE',
        message: expect.stringMatching(/^Field "2" with name "total_cents" on message "Order" changed type from "int64" to "string"\./),
        path: 'next/orders.proto',
        line: 7,
        column: 3,
      },
    ]);
    expect(parseBufAnnotations(captured('delete-package'))).toEqual([{ type: 'PACKAGE_NO_DELETE', message: 'Previously present package "admin.v1" was deleted.', line: 1, column: 1 }]);
  });

  it('reads nothing from a compatible change', () => {
    expect(parseBufAnnotations(captured('add-field'))).toEqual([]);
  });

  it.each([
    ['a line that is not JSON', 'Failure: decode next/buf.yaml: unknown file version', 'not JSON'],
    ['an object without type', '{"path":"a.proto","message":"x"}', 'without type and message'],
  ])('throws on %s', (_name, output, error) => {
    expect(() => parseBufAnnotations(output)).toThrow(error);
  });
});

describe('breakingChanges', () => {
  it.each([
    ['remove-field', [['field Order.currency (#3)', 'FIELD_NO_DELETE_UNLESS_NAME_RESERVED'], ['field Order.currency (#3)', 'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED']]],
    ['change-field-type', [['field Order.total_cents (#2)', 'FIELD_WIRE_JSON_COMPATIBLE_TYPE']]],
    ['rename-field', [['field Order.currency (#3)', 'FIELD_SAME_JSON_NAME'], ['field Order.currency (#3)', 'FIELD_SAME_NAME']]],
    ['remove-enum-value', [['enum value Status.STATUS_SHIPPED (#2)', 'ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED'], ['enum value Status.STATUS_SHIPPED (#2)', 'ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED']]],
    ['rename-rpc', [['rpc Orders.GetOrder', 'RPC_NO_DELETE']]],
    ['delete-service', [['service orders.v1.Orders', 'PACKAGE_SERVICE_NO_DELETE']]],
    ['delete-package', [['package admin.v1', 'PACKAGE_NO_DELETE']]],
    ['import-breaking', [['field Money.units (#2)', 'FIELD_WIRE_JSON_COMPATIBLE_TYPE']]],
    ['add-field', []],
    ['reserve-removed-field', []],
    ['import-compatible', []],
  ])('names the element of %s, by the name an old consumer knows', (name, expected) => {
    expect(elements(changesOf(name))).toEqual(expected);
  });

  it('names every element of a change that breaks many things at once', () => {
    expect(elements(changesOf('many-changes'))).toEqual([
      ['field Money.units (#1)', 'FIELD_WIRE_JSON_COMPATIBLE_TYPE'],
      ['field Money.currency_code (#2)', 'FIELD_SAME_JSON_NAME'],
      ['field Money.currency_code (#2)', 'FIELD_SAME_NAME'],
      ['service orders.v1.Admin', 'PACKAGE_SERVICE_NO_DELETE'],
      ['field Order.currency (#3)', 'FIELD_NO_DELETE_UNLESS_NAME_RESERVED'],
      ['field Order.currency (#3)', 'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED'],
      ['field Order.status (#4)', 'FIELD_SAME_JSON_NAME'],
      ['field Order.status (#4)', 'FIELD_SAME_NAME'],
      ['field Order.note (#5)', 'FIELD_WIRE_JSON_COMPATIBLE_TYPE'],
      ['field Order.tags (#6)', 'FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY'],
      ['field Line.qty (#2)', 'FIELD_WIRE_JSON_COMPATIBLE_TYPE'],
      ['field Order.card (#8)', 'FIELD_SAME_ONEOF'],
      ['enum value Status.STATUS_SHIPPED (#2)', 'ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED'],
      ['enum value Status.STATUS_SHIPPED (#2)', 'ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED'],
      ['rpc Orders.GetOrder', 'RPC_NO_DELETE'],
      ['rpc Orders.Watch', 'RPC_SAME_SERVER_STREAMING'],
      ['rpc Orders.Cancel', 'RPC_SAME_REQUEST_TYPE'],
    ]);
  });

  it('gives paths inside the contract, with line and column', () => {
    expect(changesOf('import-breaking')).toEqual([
      { contract: 'orders-api', element: 'field Money.units (#2)', rule: 'FIELD_WIRE_JSON_COMPATIBLE_TYPE', message: expect.any(String), path: 'money/v1/money.proto', line: 7, column: 3 },
    ]);
  });

  it('leaves compile errors out: they are not breaking changes', () => {
    expect(parseBufAnnotations(captured('syntax-error')).map((a) => a.type)).toEqual(['COMPILE']);
    expect(changesOf('syntax-error')).toEqual([]);
  });

  it('names an element of a message it does not know by its file, or its rule', () => {
    expect(breakingChanges('c', [{ type: 'SOME_NEW_RULE', message: 'Something changed.', path: 'next/a.proto' }], 'next')[0]!.element).toBe('file a.proto');
    expect(breakingChanges('c', [{ type: 'SOME_NEW_RULE', message: 'Something changed.' }])[0]!.element).toBe('SOME_NEW_RULE');
  });
});

describe('verdict', () => {
  const ctx: ContractContext = {
    contract: 'orders-api',
    provider: { service: 'orders', from: 'v1.4.0', to: 'v1.5.0' },
    consumers: [{ service: 'checkout', version: 'v2.3.0', regions: ['eu-west-1', 'us-east-1'] }],
  };

  it.each([
    ['a compatible change', 'add-field', ctx],
    ['a breaking change with no consumer of the old version running', 'remove-field', { ...ctx, consumers: [] }],
    ['a breaking change whose consumers run in no region', 'remove-field', { ...ctx, consumers: [{ service: 'checkout', version: 'v2.3.0', regions: [] }] }],
    ['a breaking change of another contract', 'remove-field', { ...ctx, contract: 'ledger.v1' }],
  ])('allows %s', (_name, fixture, context) => {
    expect(verdict(changesOf(fixture), context)).toEqual({ allow: true });
  });

  it('refuses a breaking change that meets an old consumer, naming contract, element, versions and regions', () => {
    const v = verdict(changesOf('remove-field'), ctx);
    expect(v).toMatchObject({ allow: false, contract: 'orders-api', elements: ['field Order.currency (#3)'], consumers: ctx.consumers });
    expect(v.allow === false && v.message).toBe(
      [
        'contract "orders-api": orders v1.5.0 breaks field Order.currency (#3) of the version v1.4.0 provides, while checkout v2.3.0 (eu-west-1, us-east-1) still consumes that version:',
        '  - field Order.currency (#3) at orders.proto:5:1: Previously present field "3" with name "currency" on message "Order" was deleted without reserving the name "currency". Previously present field "3" with name "currency" on message "Order" was deleted without reserving the number "3". [FIELD_NO_DELETE_UNLESS_NAME_RESERVED, FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED]',
        'Keep this element in orders until no consumer of v1.4.0 runs, or roll the consumers to a version that no longer needs it first.',
      ].join('\n'),
    );
  });

  it('lists every element once, and every consumer with its regions', () => {
    const consumers = [...ctx.consumers, { service: 'search', version: 'v0.9.1', regions: ['ap-south-1'] }];
    const v = verdict(changesOf('many-changes'), { ...ctx, consumers });
    if (v.allow) throw new Error('expected a refusal');
    expect(v.elements).toHaveLength(13);
    expect(v.message).toContain('while checkout v2.3.0 (eu-west-1, us-east-1) and search v0.9.1 (ap-south-1) still consume that version');
    expect(v.message).toContain('  - rpc Orders.GetOrder at orders.proto:37:1: ');
    expect(v.message).toContain('  - service orders.v1.Admin at orders.proto:1:1: ');
    expect(v.message).toContain('Keep these elements in orders');
  });

  it('names an element without a file by itself alone', () => {
    const v = verdict(changesOf('delete-package'), ctx);
    expect(v.allow === false && v.message).toContain('\n  - package admin.v1: Previously present package "admin.v1" was deleted. [PACKAGE_NO_DELETE]\n');
  });
});

describe('contract file paths', () => {
  it.each([
    ['orders.proto', undefined],
    ['orders/v1/orders.proto', undefined],
    ['orders.txt', 'is not a .proto file'],
    ['/etc/orders.proto', 'is not a relative /-separated path'],
    ['orders\\v1\\orders.proto', 'is not a relative /-separated path'],
    ['../orders.proto', 'has an empty, "." or ".." step'],
    ['orders//orders.proto', 'has an empty, "." or ".." step'],
  ])('%s', (path, problem) => {
    const found = protobufPathProblem(path);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('reports every bad path of a version at once, and a version without files', () => {
    expect(contractVersionProblems({ contract: 'c', kind: 'protobuf', files: { 'a.proto': '', 'b.txt': '', '../c.proto': '' } })).toEqual([
      expect.stringContaining('contract "c": "b.txt"'),
      expect.stringContaining('contract "c": "../c.proto"'),
    ]);
    expect(contractVersionProblems({ contract: 'c', kind: 'protobuf', files: {} })).toEqual(['contract "c" has no files']);
  });
});

describe('OpenAPI contract versions', () => {
  /** An OpenAPI version whose entry is `openapi.yaml`, another path, or (null) none. */
  const version = (files: Record<string, string>, entry: string | null = 'openapi.yaml') => ({ contract: 'c', kind: 'openapi' as const, files, ...(entry === null ? {} : { entry }) });

  it.each([
    ['openapi.yaml', undefined],
    ['schemas/order.yml', undefined],
    ['v1/openapi.json', undefined],
    ['orders.proto', 'is not a .yaml or .yml or .json file'],
    ['/etc/openapi.yaml', 'is not a relative /-separated path'],
    ['schemas\\order.yaml', 'is not a relative /-separated path'],
    ['../openapi.yaml', 'has an empty, "." or ".." step'],
    ['schemas/./order.yaml', 'has an empty, "." or ".." step'],
    ['main:openapi.yaml', 'holds a ":"'],
  ])('%s', (path, problem) => {
    const found = contractPathProblem('openapi', path);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('finds nothing wrong with a root document among its files', () => {
    expect(contractVersionProblems(version({ 'openapi.yaml': '', 'schemas/order.yaml': '' }))).toEqual([]);
  });

  it('wants an entry, and one that is among the files', () => {
    expect(contractVersionProblems(version({ 'openapi.yaml': '' }, null))).toEqual([expect.stringContaining('contract "c" names no entry')]);
    expect(contractVersionProblems(version({ 'api.yaml': '', 'schemas/order.yaml': '' }))).toEqual(['contract "c": the entry "openapi.yaml" is not among its files (api.yaml, schemas/order.yaml)']);
  });

  it('reports every bad path and the entry at once, and a version without files', () => {
    expect(contractVersionProblems(version({ 'a.yaml': '', 'b.proto': '', '../c.json': '' }, 'x.yaml'))).toEqual([
      expect.stringContaining('contract "c": "b.proto"'),
      expect.stringContaining('contract "c": "../c.json"'),
      expect.stringContaining('the entry "x.yaml" is not among its files'),
    ]);
    expect(contractVersionProblems(version({}))).toEqual(['contract "c" has no files']);
  });

  it('checks protobuf paths as protobuf, whatever entry it carries', () => {
    expect(contractVersionProblems({ contract: 'c', kind: 'protobuf', files: { 'openapi.yaml': '' }, entry: 'openapi.yaml' })).toEqual([expect.stringContaining('is not a .proto file')]);
  });

  it('refuses a kind it does not know', () => {
    expect(contractVersionProblems({ contract: 'c', kind: 'graphql' as 'openapi', files: { 'a.graphql': '' } })).toEqual([expect.stringContaining('contract "c" is of kind "graphql"; write one of protobuf, openapi')]);
  });
});

describe('openapiElementOf', () => {
  const get = { operation: 'GET', path: '/orders', section: 'paths' };
  // Sentences as oasdiff printed them.
  it.each([
    ['response-required-property-removed', { ...get, path: '/orders/{id}' }, 'removed the required property `total` from the response with the `200` status', 'response field total of GET /orders/{id}'],
    ['response-required-property-removed', get, 'removed the required property `items/lines/items/sku` from the response with the `200` status', 'response field items/lines/items/sku of GET /orders'],
    ['response-property-type-changed', get, "the `items/id` response's property `type` changed from `string` to `integer` for status `200`", 'response field items/id of GET /orders'],
    ['response-property-enum-value-added', get, 'added the new `lost` enum value to the `items/status` response property for the response status `200`', 'response field items/status of GET /orders'],
    ['api-path-removed-without-deprecation', { ...get, operation: 'POST', path: '/orders/{id}/cancel' }, 'API path removed without deprecation', 'path POST /orders/{id}/cancel'],
    ['api-removed-without-deprecation', { ...get, operation: 'DELETE', path: '/orders/{id}' }, 'API removed without deprecation', 'operation DELETE /orders/{id}'],
    ['request-parameter-became-required', get, 'the `query` request parameter `limit` became required', 'request parameter limit (query) of GET /orders'],
    ['new-required-request-parameter', get, 'added the new required `header` request parameter `x-tenant`', 'request parameter x-tenant (header) of GET /orders'],
    ['request-parameter-enum-value-removed', get, 'removed the enum value `1.00` from the `query` request parameter `limit`', 'request parameter limit (query) of GET /orders'],
    ['request-parameter-max-length-set', get, 'for the `header` request parameter `x-req`, the maxLength was set to `3`', 'request parameter x-req (header) of GET /orders'],
    ['new-request-path-parameter', get, 'added the new path request parameter `tag`', 'request parameter tag (path) of GET /orders'],
    ['new-required-request-property', { ...get, operation: 'POST' }, 'added the new required request property `code`', 'request field code of POST /orders'],
    ['request-property-type-changed', { ...get, operation: 'POST' }, 'the `note` request property `type` changed from `string` to `integer`', 'request field note of POST /orders'],
    ['request-property-enum-value-removed', { ...get, operation: 'POST' }, 'removed the enum value `b` of the request property `kind`', 'request field kind of POST /orders'],
    ['request-body-became-required', { ...get, operation: 'POST' }, 'request body became required', 'request body of POST /orders'],
    ['request-body-media-type-removed', { ...get, operation: 'PUT' }, 'removed the media type `application/xml` from the request body', 'request body of PUT /orders'],
    ['response-success-status-removed', { ...get, operation: 'POST' }, 'removed the success response with the status `201`', 'response 201 of POST /orders'],
    ['required-response-header-removed', get, 'the mandatory response header `x-total` removed for the status `200`', 'response header x-total of GET /orders'],
    ['response-header-type-changed', get, "the `x-rate` response header's `type` changed from `integer` to `string` for the status `200`", 'response header x-rate of GET /orders'],
    ['response-media-type-removed', get, 'removed the media type `application/xml` for the response with the status `200`', 'response media type application/xml of GET /orders'],
    ['response-body-type-changed', get, "the response's body `type` changed from `array<string>` to `object` for status `200`", 'response body of GET /orders'],
    ['api-security-removed', get, 'the endpoint scheme security `basic` was removed from the API', 'security basic of GET /orders'],
    ['api-security-component-api-key-in-changed', { section: 'components' }, 'the component security scheme `key` API key location changed from `header` to `query`', 'security scheme key'],
  ])('%s: %s', (id, at, message, element) => {
    expect(openapiElementOf({ id, ...at, message })).toBe(element);
  });

  it('names a finding of a rule it does not know by its operation, else its component, else the rule', () => {
    expect(openapiElementOf({ id: 'some-new-rule', ...get, message: 'something `x` changed' })).toBe('operation GET /orders');
    expect(openapiElementOf({ id: 'some-new-rule', section: 'components', message: 'the schema `Order` changed' })).toBe('component Order');
    expect(openapiElementOf({ id: 'some-new-rule', message: 'something changed' })).toBe('some-new-rule');
  });
});
