import { defaultPayloadConverter, type Payload } from '@temporalio/common';

/**
 * The most a start request's arguments may weigh: the Temporal server's default blob size limit
 * (`limit.blobSize.error`), which the dev server keeps. A server configured otherwise is matched by
 * passing its limit to the functions below.
 */
export const PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024;

export class PayloadTooLargeError extends Error {
  readonly sizeBytes: number;
  readonly limitBytes: number;

  constructor(
    sizeBytes: number,
    limitBytes: number,
    message: string,
  ) {
    super(message);
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
    this.name = 'PayloadTooLargeError';
  }
}

const varintLength = (n: number): number => (n < 0x80 ? 1 : 1 + varintLength(Math.floor(n / 0x80)));
/** A length-delimited protobuf field of `n` bytes, with a one-byte tag. */
const field = (n: number): number => 1 + varintLength(n) + n;

function payloadLength(p: Payload): number {
  const meta = Object.entries(p.metadata ?? {}).reduce((sum, [k, v]) => sum + field(field(Buffer.byteLength(k)) + field(v?.length ?? 0)), 0);
  const data = p.data?.length ? field(p.data.length) : 0;
  return meta + data;
}

/**
 * The bytes `args` take on the wire as a workflow's input: each encoded by the default payload
 * converter (the one the client uses), in one `Payloads` message, as the server measures it.
 */
export function encodedSize(args: readonly unknown[]): number {
  return args.reduce<number>((sum, arg) => sum + field(payloadLength(defaultPayloadConverter.toPayload(arg))), 0);
}

/** `3.1 MiB`, `12 KiB`, `800 bytes`. */
function roughBytes(bytes: number): string {
  const units: [string, number][] = [['MiB', 1024 * 1024], ['KiB', 1024]];
  const hit = units.find(([, size]) => bytes >= size);
  return hit ? `${(bytes / hit[1]).toFixed(1).replace(/\.0$/, '')} ${hit[0]}` : `${bytes} bytes`;
}

/** `3.1 MiB (3,245,678 bytes)`. */
const exactBytes = (bytes: number): string => `${roughBytes(bytes)} (${bytes.toLocaleString('en-US')} bytes)`;

/** The top-level fields of `value` that weigh the most, largest first: `migrations 2.9 MiB, regions 12 KiB`. */
function heaviestFields(value: unknown, count = 3): string {
  if (typeof value !== 'object' || value === null) return '';
  const sizes = Object.entries(value)
    .map(([k, v]) => [k, Buffer.byteLength(JSON.stringify(v) ?? '')] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count);
  return sizes.map(([k, n]) => `${k} ${roughBytes(n)}`).join(', ');
}

export interface PayloadCheck {
  /** The server's limit; PAYLOAD_LIMIT_BYTES when absent. */
  limitBytes?: number;
  /** What is measured, for the message: `the rollout plan`. */
  what?: string;
  /** The value whose largest fields the message names; `args[0]` when absent. */
  weighed?: unknown;
}

/**
 * The error a start of `args` would meet at the server's size limit, or undefined when they fit:
 * it gives the size and the limit instead of the server's bare "Failed to start Workflow".
 */
export function payloadTooLarge(args: readonly unknown[], opts: PayloadCheck = {}): PayloadTooLargeError | undefined {
  const limit = opts.limitBytes ?? PAYLOAD_LIMIT_BYTES;
  const size = encodedSize(args);
  if (size <= limit) return undefined;
  const heaviest = heaviestFields(opts.weighed ?? args[0]);
  return new PayloadTooLargeError(
    size,
    limit,
    `${opts.what ?? 'the workflow input'} is ${exactBytes(size)} encoded, over Temporal's payload limit of ${exactBytes(limit)}; ` +
      `make the spec smaller${heaviest ? ` (its largest parts: ${heaviest})` : ''}`,
  );
}

/** Throws payloadTooLarge's error when `args` would not fit. */
export function assertPayloadFits(args: readonly unknown[], opts: PayloadCheck = {}): void {
  const err = payloadTooLarge(args, opts);
  if (err) throw err;
}
