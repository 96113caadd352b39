import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DocumentSet, OpenApiDocumentError, openapiBreaking, openapiChanges } from '../../activities/contracts/openapi';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'openapi');
const ENTRY = 'openapi.yaml';
const ORDER = 'schemas/order.yaml';

function load(name: string): DocumentSet {
  const dir = join(FIXTURES, name);
  const set: DocumentSet = {};
  for (const file of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (file.isFile()) set[relative(dir, join(file.parentPath, file.name))] = readFileSync(join(file.parentPath, file.name), 'utf8');
  }
  return set;
}

/** The set with one exact piece of one file replaced; the piece must be there. */
function edit(set: DocumentSet, file: string, from: string, to: string): DocumentSet {
  expect(set[file], `${file} holds ${JSON.stringify(from)}`).toContain(from);
  return { ...set, [file]: set[file]!.replace(from, to) };
}

const v1 = load('orders-v1');

async function documentError(run: Promise<unknown>): Promise<OpenApiDocumentError> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenApiDocumentError);
  return err as OpenApiDocumentError;
}

describe('openapiBreaking, with the real oasdiff', () => {
  it('a new endpoint and a new optional response property break nothing', async () => {
    const next = load('orders-v2-compatible');
    expect(await openapiBreaking(v1, next, ENTRY)).toEqual([]);
    const changes = await openapiChanges(v1, next, ENTRY);
    expect(changes.every((c) => c.level === 'INFO')).toBe(true);
    expect(changes).toContainEqual(expect.objectContaining({ id: 'endpoint-added', operation: 'GET', path: '/orders/{id}/events', next: expect.objectContaining({ file: ENTRY }) }));
    expect(changes).toContainEqual(expect.objectContaining({ id: 'response-optional-property-added', path: '/orders/{id}', next: expect.objectContaining({ file: ORDER, line: 13 }) }));
  });

  it('removing a required response property is an error on every operation that returns it, located in the schema file', async () => {
    const next = edit(edit(v1, ORDER, 'required: [id, status, total]', 'required: [id, status]'), ORDER, '    total:\n      type: number\n', '');
    const findings = await openapiBreaking(v1, next, ENTRY);
    expect(findings.map((f) => [f.id, f.level, f.operation, f.path])).toEqual([
      ['response-required-property-removed', 'ERR', 'GET', '/orders'],
      ['response-required-property-removed', 'ERR', 'GET', '/orders/{id}'],
    ]);
    expect(findings[1]).toMatchObject({ operationId: 'getOrder', previous: { file: ORDER, line: 9 } });
    expect(findings[1]!.next).toBeUndefined();
    expect(findings[1]!.message).toContain('`total`');
  });

  it('removing an optional response property is no breaking change to oasdiff, but the changelog names it for the consumers that read it', async () => {
    const next = edit(v1, ORDER, '    currency:\n      type: string\n', '');
    expect(await openapiBreaking(v1, next, ENTRY)).toEqual([]);
    const removed = (await openapiChanges(v1, next, ENTRY)).filter((c) => c.id === 'response-optional-property-removed');
    expect(removed.map((c) => [c.level, c.path, c.previous?.file])).toEqual([
      ['INFO', '/orders', ORDER],
      ['INFO', '/orders/{id}', ORDER],
    ]);
    expect(removed[1]!.message).toContain('`currency`');
  });

  it('removing a path is an error naming the operation and where it was', async () => {
    const next = edit(v1, ENTRY, v1[ENTRY]!.slice(v1[ENTRY]!.indexOf('  /orders/{id}/cancel:')), '');
    expect(await openapiBreaking(v1, next, ENTRY)).toEqual([
      {
        id: 'api-path-removed-without-deprecation',
        level: 'ERR',
        operation: 'POST',
        operationId: 'cancelOrder',
        path: '/orders/{id}/cancel',
        section: 'paths',
        message: expect.any(String),
        previous: { file: ENTRY, line: 43, column: 5 },
      },
    ]);
  });

  it('making a request parameter required is an error naming the parameter', async () => {
    const next = edit(v1, ENTRY, 'in: query\n          required: false', 'in: query\n          required: true');
    const [finding, ...rest] = await openapiBreaking(v1, next, ENTRY);
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ id: 'request-parameter-became-required', level: 'ERR', operation: 'GET', path: '/orders', next: { file: ENTRY } });
    expect(finding!.message).toContain('`limit`');
  });

  it('leaves no temporary folder behind, whether the check passes or fails', async () => {
    const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith('meridian-openapi-')).length;
    const before = ours();
    await openapiBreaking(v1, v1, ENTRY);
    await openapiBreaking(v1, { ...v1, [ORDER]: 'Order: [' }, ENTRY).catch(() => {});
    expect(ours()).toBe(before);
  });
});

describe('a document oasdiff cannot use is an error naming the side and the file', () => {
  it('broken YAML in a referenced file', async () => {
    const err = await documentError(openapiBreaking(v1, { ...v1, [ORDER]: 'Order: [broken\n' }, ENTRY));
    expect([err.side, err.file]).toEqual(['next', ORDER]);
    expect(err.message).toMatch(/^next OpenAPI document schemas\/order\.yaml: .*yaml/);
  });

  it('a referenced file missing from the set', async () => {
    const { [ORDER]: _, ...without } = v1;
    const err = await documentError(openapiBreaking(without, v1, ENTRY));
    expect([err.side, err.file]).toEqual(['previous', ORDER]);
    expect(err.message).toContain('no such file');
  });

  it('a file that is not OpenAPI, which a bare diff would read as every path removed', async () => {
    const err = await documentError(openapiBreaking(v1, { [ENTRY]: 'hello: world\n' }, ENTRY));
    expect([err.side, err.file, err.line]).toEqual(['next', ENTRY, 1]);
    expect(err.message).toContain('not valid OpenAPI');
  });

  it('an invalid schema', async () => {
    const err = await documentError(openapiBreaking(v1, edit(v1, ORDER, 'type: number', 'type: numbr'), ENTRY));
    expect(err.side).toBe('next');
    expect(err.message).toContain('numbr');
  });

  it('an entry that is not in a set', async () => {
    const err = await documentError(openapiBreaking(v1, { 'api.yaml': v1[ENTRY]! }, ENTRY));
    expect([err.side, err.file]).toEqual(['next', ENTRY]);
    expect(err.message).toContain('it has api.yaml');
  });

  it('a $ref to a URL, which would fetch unreviewed text at check time', async () => {
    const next = edit(v1, ENTRY, "$ref: './schemas/order.yaml#/Order'", "$ref: 'https://example.com/order.yaml#/Order'");
    const err = await documentError(openapiBreaking(v1, next, ENTRY));
    expect([err.side, err.file, err.line]).toEqual(['next', ENTRY, 23]);
  });

  it.each(['../escape.yaml', '/etc/x.yaml', 'main:openapi.yaml', 'a/./b.yaml'])('a file named %s', async (name) => {
    const err = await documentError(openapiBreaking(v1, { ...v1, [name]: 'x: 1\n' }, ENTRY));
    expect([err.side, err.file]).toEqual(['next', name]);
  });
});
