/** An error that names the address and what to do next. */
export class ConnectionFailedError extends Error {
  readonly address: string;

  constructor(
    address: string,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`cannot reach Temporal at ${address} (${why}); is a Temporal server running? try: meridian dev`, { cause });
    this.address = address;
    this.name = 'ConnectionFailedError';
  }
}
