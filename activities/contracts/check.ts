import { ApplicationFailure } from '@temporalio/common';
import { CONTRACT_FAILURE, contractVersionProblems, openapiElementOf, type BreakingChange, type ContractVersion } from '../../domain/contract-verdict';
import { requireTool } from '../../lib/tools';
import type { BufOptions } from './buf';
import { OpenApiDocumentError, openapiBreaking, type OasdiffOptions, type OpenApiFinding } from './openapi';
import { protobufBreaking } from './protobuf';

/** How to run the checkers: `timeoutMs` bounds each run of buf and of oasdiff. */
export interface ContractCheckOptions extends BufOptions, OasdiffOptions {}

/**
 * What would break for a consumer of `previous` if the provider served `next`: buf breaking for
 * protobuf, oasdiff's ERR findings for OpenAPI. An empty list means compatible. Versions of
 * different kinds or contracts, a bad path, a missing entry, or a file the checker cannot read is
 * a non-retryable ContractInvalid failure naming the contract and the file; a checker that cannot
 * run is ContractCheckFailed.
 */
export async function contractBreaking(previous: ContractVersion, next: ContractVersion, opts: ContractCheckOptions = {}): Promise<BreakingChange[]> {
  if (previous.kind !== next.kind || previous.contract !== next.contract) {
    throw ApplicationFailure.nonRetryable(
      `cannot compare contract "${previous.contract}" (${String(previous.kind)}) with contract "${next.contract}" (${String(next.kind)}): both versions must be of one contract and one kind`,
      CONTRACT_FAILURE.invalid,
    );
  }
  try {
    return next.kind === 'openapi' ? await openapiContractBreaking(previous, next, opts) : await protobufBreaking(previous, next, opts);
  } catch (err) {
    throw asFailure(next.contract, err);
  }
}

/** Can a consumer built against `expected` use a provider serving `provided`? The same check with `expected` as the previous version; empty means it finds everything it uses. */
export function consumerNeeds(expected: ContractVersion, provided: ContractVersion, opts: ContractCheckOptions = {}): Promise<BreakingChange[]> {
  return contractBreaking(expected, provided, opts);
}

async function openapiContractBreaking(previous: ContractVersion, next: ContractVersion, opts: ContractCheckOptions): Promise<BreakingChange[]> {
  const { contract } = next;
  const problems = [...contractVersionProblems(previous).map((p) => `previous version: ${p}`), ...contractVersionProblems(next).map((p) => `new version: ${p}`)];
  if (problems.length > 0) throw ApplicationFailure.nonRetryable(`cannot check contract "${contract}": ${problems.join('; ')}`, CONTRACT_FAILURE.invalid);
  const entry = { previous: previous.entry!, next: next.entry! };
  const findings = await openapiBreaking(previous.files, next.files, entry, { timeoutMs: opts.timeoutMs, oasdiff: opts.oasdiff ?? findOasdiff() });
  return findings.filter((f) => f.level === 'ERR').map((f) => breakingChange(contract, f));
}

/** A document oasdiff cannot use is the contract's fault and permanent; anything else but a failure already typed is the checker's. */
function asFailure(contract: string, err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof OpenApiDocumentError) {
    const at = err.line === undefined ? err.file : `${err.file}:${err.line}`;
    return ApplicationFailure.create({
      message: `contract "${contract}" cannot be checked: ${err.side === 'next' ? 'new' : 'previous'} version, ${at}: ${err.detail}`,
      type: CONTRACT_FAILURE.invalid,
      nonRetryable: true,
      details: [{ version: err.side, file: err.file, line: err.line }],
      cause: err,
    });
  }
  const cause = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({ message: `contract "${contract}": the check did not run: ${cause.message}`, type: CONTRACT_FAILURE.checkFailed, cause });
}

/** The oasdiff binary; a worker without one cannot check until someone installs it, so retrying does not help. */
function findOasdiff(): string {
  try {
    return requireTool('oasdiff');
  } catch (err) {
    throw ApplicationFailure.nonRetryable(err instanceof Error ? err.message : String(err), CONTRACT_FAILURE.checkFailed);
  }
}

/** Located in the new version, or in the previous one for an element the new version no longer has. */
function breakingChange(contract: string, f: OpenApiFinding): BreakingChange {
  const change: BreakingChange = { contract, element: openapiElementOf(f), rule: f.id, message: f.message };
  const at = f.next ?? f.previous;
  if (at) Object.assign(change, { path: at.file, line: at.line, column: at.column });
  return change;
}
