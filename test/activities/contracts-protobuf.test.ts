import { describe, expect, it } from 'vitest';
import { BUF_PATH_ENV, findBuf, runBufBreaking } from '../../activities/contracts/buf';
import { protobufBreaking } from '../../activities/contracts/protobuf';
import { CONTRACT_FAILURE, type ContractVersion } from '../../domain/contract-verdict';
import { capturedPath, FIXTURE_CASES, fixtureVersion } from '../fixtures/contracts/load';

const check = (name: string) => protobufBreaking(fixtureVersion(name, 'previous'), fixtureVersion(name, 'next'));
const pick = (changes: { element: string; rule: string; path?: string }[]) => changes.map(({ element, rule, path }) => ({ element, rule, path }));

describe('protobufBreaking, against the real buf', () => {
  it.each(['add-field', 'reserve-removed-field', 'import-compatible'])('finds nothing in a compatible change: %s', async (name) => {
    expect(await check(name)).toEqual([]);
  });

  it('names a removed field', async () => {
    expect(pick(await check('remove-field'))).toEqual([
      { element: 'field Order.currency (#3)', rule: 'FIELD_NO_DELETE_UNLESS_NAME_RESERVED', path: 'orders.proto' },
      { element: 'field Order.currency (#3)', rule: 'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED', path: 'orders.proto' },
    ]);
  });

  it("names a field whose type changed, at the field's line", async () => {
    const changes = await check('change-field-type');
    expect(pick(changes)).toEqual([{ element: 'field Order.total_cents (#2)', rule: 'FIELD_WIRE_JSON_COMPATIBLE_TYPE', path: 'orders.proto' }]);
    expect(changes[0]).toMatchObject({ contract: 'orders-api', line: 7, column: 3, message: expect.stringContaining('from "int64" to "string"') });
  });

  it('names a renamed rpc by its old name', async () => {
    expect(pick(await check('rename-rpc'))).toEqual([{ element: 'rpc Orders.GetOrder', rule: 'RPC_NO_DELETE', path: 'orders.proto' }]);
  });

  it('names a deleted service with its package', async () => {
    expect(pick(await check('delete-service'))).toEqual([{ element: 'service orders.v1.Orders', rule: 'PACKAGE_SERVICE_NO_DELETE', path: 'orders.proto' }]);
  });

  it('names a deleted package, which has no file to point at', async () => {
    expect(pick(await check('delete-package'))).toEqual([{ element: 'package admin.v1', rule: 'PACKAGE_NO_DELETE', path: undefined }]);
  });

  it('finds a breaking change in an imported file of a two-file contract, by its path inside the contract', async () => {
    expect(pick(await check('import-breaking'))).toEqual([{ element: 'field Money.units (#2)', rule: 'FIELD_WIRE_JSON_COMPATIBLE_TYPE', path: 'money/v1/money.proto' }]);
  });

  it('swapped, reports what only the new version has', async () => {
    const added = await protobufBreaking(fixtureVersion('add-field', 'next'), fixtureVersion('add-field', 'previous'));
    expect(added.map((c) => c.element)).toContain('field Order.note (#5)');
  });

  it('refuses a file that does not compile, naming the contract, the version and file:line:column', async () => {
    const err = await check('syntax-error').catch((e: unknown) => e);
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, nonRetryable: true });
    expect((err as Error).message).toMatch(/^contract "orders-api" does not compile:\n {2}new version, orders\.proto:7:3: unexpected `int64` after definition$/);
  });

  it('refuses a missing import, in the previous version too', async () => {
    const broken: ContractVersion = { contract: 'orders-api', kind: 'protobuf', files: { 'a.proto': 'syntax = "proto3";\nimport "nope/b.proto";\nmessage A {}\n' } };
    const err = await protobufBreaking(broken, fixtureVersion('add-field', 'next')).catch((e: unknown) => e);
    expect((err as Error).message).toContain('previous version, a.proto:2:1: imported file does not exist');
  });

  it('refuses a path outside the contract before running buf', async () => {
    const escaping: ContractVersion = { contract: 'orders-api', kind: 'protobuf', files: { '../x.proto': 'syntax = "proto3";' } };
    const err = await protobufBreaking(fixtureVersion('add-field', 'previous'), escaping).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: CONTRACT_FAILURE.invalid, message: expect.stringContaining('new version: contract "orders-api": "../x.proto"') });
  });

  it('says so when buf does not finish in time', async () => {
    const slow = await protobufBreaking(fixtureVersion('add-field', 'previous'), fixtureVersion('add-field', 'next'), { timeoutMs: 1 }).catch((e: unknown) => e);
    expect(slow).toMatchObject({ type: CONTRACT_FAILURE.checkFailed, nonRetryable: false, message: expect.stringContaining('did not finish within 1 ms') });
  });

  it(`uses ${BUF_PATH_ENV} when set, and refuses one that is not executable`, () => {
    const real = findBuf({});
    expect(findBuf({ [BUF_PATH_ENV]: real })).toBe(real);
    expect(() => findBuf({ [BUF_PATH_ENV]: '/nonexistent/buf' })).toThrow(`${BUF_PATH_ENV}=/nonexistent/buf is not an executable file`);
  });

  // The unit tests of the verdict read these captures; regenerate them with `vitest -u` when buf is upgraded.
  it.each(FIXTURE_CASES)('buf still prints what %s captured', async (name) => {
    await expect(await runBufBreaking(fixtureVersion(name, 'previous'), fixtureVersion(name, 'next'))).toMatchFileSnapshot(capturedPath(name));
  });
});
