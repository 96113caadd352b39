import { FAILURE } from './vocabulary';
/** One version of a contract: its files' text keyed by path inside the contract; `entry` is an OpenAPI root document. */
export interface RecordedContract {
  contract: string;
  kind: 'protobuf' | 'openapi';
  files: Record<string, string>;
  entry?: string;
}

/** What Meridian recorded when it last promoted a service in a region. */
export interface RecordedContracts {
  service: string;
  region: string;
  version: string;
  image: string;
  recordedAt: string;
  provides: RecordedContract[];
  consumes: RecordedContract[];
}

export const RECORDED_CONTRACT_KINDS = ['protobuf', 'openapi'] as const satisfies readonly RecordedContract['kind'][];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function contractProblems(value: unknown, at: string): string[] {
  if (!isObject(value)) return [`${at}: must be an object`];
  const problems: string[] = [];
  if (!isText(value.contract)) problems.push(`${at}.contract: must be a non-empty string`);
  if (!RECORDED_CONTRACT_KINDS.includes(value.kind as RecordedContract['kind'])) {
    problems.push(`${at}.kind: must be one of ${RECORDED_CONTRACT_KINDS.join(', ')}`);
  }
  if (!isObject(value.files)) {
    problems.push(`${at}.files: must be an object of file text by path`);
  } else {
    if (Object.keys(value.files).length === 0) problems.push(`${at}.files: has no files`);
    for (const [path, text] of Object.entries(value.files)) {
      if (typeof text !== 'string') problems.push(`${at}.files[${JSON.stringify(path)}]: must be a string`);
    }
  }
  if (value.entry !== undefined) {
    if (!isText(value.entry)) problems.push(`${at}.entry: must be a non-empty string`);
    else if (isObject(value.files) && !(value.entry in value.files)) problems.push(`${at}.entry: "${value.entry}" is not one of its files`);
  }
  return problems;
}

/** Every problem of a stored record, each with its path (`provides[0].files`); empty when `value` is a `RecordedContracts`. */
export function recordedContractsProblems(value: unknown): string[] {
  if (!isObject(value)) return ['the record must be an object'];
  const problems: string[] = [];
  for (const field of ['service', 'region', 'version', 'image', 'recordedAt'] as const) {
    if (!isText(value[field])) problems.push(`${field}: must be a non-empty string`);
  }
  if (isText(value.recordedAt) && Number.isNaN(Date.parse(value.recordedAt))) problems.push('recordedAt: must be an ISO 8601 time');
  for (const side of ['provides', 'consumes'] as const) {
    const list = value[side];
    if (!Array.isArray(list)) problems.push(`${side}: must be a list`);
    else list.forEach((c, i) => problems.push(...contractProblems(c, `${side}[${i}]`)));
  }
  return problems;
}

/** `recordedContractsProblems`, and for a valid record whether it is the one of `service` in `region`. */
export function recordedContractsProblemsFor(value: unknown, service: string, region: string): string[] {
  const problems = recordedContractsProblems(value);
  if (problems.length > 0) return problems;
  const record = value as RecordedContracts;
  if (record.service !== service) problems.push(`service: records "${record.service}", not "${service}"`);
  if (record.region !== region) problems.push(`region: records "${record.region}", not "${region}"`);
  return problems;
}

/** Why `recordContracts` refuses a record, for the `invalid` failure. */
export function invalidRecordMessage(service: string, region: string, problems: string[]): string {
  return `${service} in ${region}: the contracts to record are not a valid record: ${problems.join('; ')}`;
}

/** Failure types (ApplicationFailure.type) of reading and recording contracts, all non-retryable; defined in FAILURE. */
export const RECORDED_CONTRACTS_FAILURE = {
  invalid: FAILURE.recordedContractsInvalid,
  malformed: FAILURE.recordedContractsMalformed,
  tooLarge: FAILURE.recordedContractsTooLarge,
} as const;
