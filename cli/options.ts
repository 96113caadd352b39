import { InvalidArgumentError } from 'commander';

/**
 * Parsers for option and argument values. Commander reports a throw as a usage error (exit 2) that
 * names the option: "option '--limit <n>' argument 'abc' is invalid. <why>".
 */

/** Any text with something in it: reasons, comments, file paths. */
export function nonBlank(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('it must not be empty.');
  return value;
}

/** A name without spaces: workflow ids, users, regions, gates, services, namespaces, task queues. */
export function name(value: string): string {
  nonBlank(value);
  if (/\s/.test(value)) throw new InvalidArgumentError('it must not contain spaces.');
  return value;
}

/** A whole number from `min` to `max`. */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`it must be a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

export const port = integer(1, 65_535);

/** `host:port` or `[ipv6]:port`, the way Temporal's frontend address is written. */
export function address(value: string): string {
  const m = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65_535) {
    throw new InvalidArgumentError('it must be host:port, e.g. localhost:7233.');
  }
  return value;
}

/** An http:// or https:// URL, such as a codec server's endpoint. */
export function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new InvalidArgumentError('it must be an http:// or https:// URL, e.g. http://127.0.0.1:8888.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('it must be an http:// or https:// URL, e.g. http://127.0.0.1:8888.');
  return value.trim().replace(/\/+$/, '');
}

/** A web origin, scheme://host[:port] with no path, as a browser sends it in the Origin header; `*` for any. */
export function webOrigin(value: string): string {
  if (value.trim() === '*') return '*';
  const url = (() => {
    try {
      return new URL(value.trim());
    } catch {
      return undefined;
    }
  })();
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value.trim().replace(/\/$/, '')) {
    throw new InvalidArgumentError('it must be an origin such as http://localhost:8233 (scheme, host and port, no path).');
  }
  return url.origin;
}
