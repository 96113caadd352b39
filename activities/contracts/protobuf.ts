import { ApplicationFailure } from '@temporalio/common';
import {
  BUF_COMPILE,
  breakingChanges,
  CONTRACT_FAILURE,
  contractVersionProblems,
  location,
  parseBufAnnotations,
  type BufAnnotation,
  type BreakingChange,
  type ContractVersion,
} from '../../domain/contract-verdict';
import { NEXT_DIR, PREVIOUS_DIR, runBufBreaking, type BufOptions } from './buf';

/**
 * What would break for a consumer of `previous` if the provider served `next`, found by the real
 * `buf breaking` (rules: see BUF_YAML). An empty list means compatible. A version that cannot be
 * checked (a bad path, a file that does not compile, a missing import) is a non-retryable
 * ContractInvalid failure naming the contract, the version and file:line:column.
 *
 * Swapping the arguments answers the opposite question: what `next` has that `previous` lacks,
 * which a new consumer must not use before the new provider serves it.
 */
export async function protobufBreaking(previous: ContractVersion, next: ContractVersion, opts: BufOptions = {}): Promise<BreakingChange[]> {
  const contract = next.contract;
  const problems = [
    ...(previous.contract === contract ? [] : [`the versions belong to different contracts ("${previous.contract}" and "${contract}")`]),
    ...[previous, next].flatMap((v) => (v.kind === 'protobuf' ? [] : [`contract "${v.contract}" is of kind ${String(v.kind)}, not protobuf`])),
    ...contractVersionProblems(previous).map((p) => `previous version: ${p}`),
    ...contractVersionProblems(next).map((p) => `new version: ${p}`),
  ];
  if (problems.length > 0) throw ApplicationFailure.nonRetryable(`cannot check contract "${contract}": ${problems.join('; ')}`, CONTRACT_FAILURE.invalid);
  const annotations = parseBufAnnotations(await runBufBreaking(previous, next, opts));
  const compile = annotations.filter((a) => a.type === BUF_COMPILE);
  if (compile.length > 0) {
    throw ApplicationFailure.nonRetryable(
      [`contract "${contract}" does not compile:`, ...compile.map((a) => `  ${describeCompileError(a)}`)].join('\n'),
      CONTRACT_FAILURE.invalid,
      compile,
    );
  }
  return breakingChanges(contract, annotations, NEXT_DIR);
}

/** `new version, orders.proto:6:1: unexpected ...`, with the path inside the contract. */
function describeCompileError(a: BufAnnotation): string {
  const sides = [
    [NEXT_DIR, 'new version'],
    [PREVIOUS_DIR, 'previous version'],
  ] as const;
  const side = sides.find(([dir]) => a.path?.startsWith(`${dir}/`));
  const path = side && a.path ? a.path.slice(side[0].length + 1) : a.path;
  const at = location({ ...a, path });
  return `${side?.[1] ?? 'contract'}${at === undefined ? '' : `, ${at}`}: ${a.message}`;
}
