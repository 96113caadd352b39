import { randomBytes } from 'node:crypto';

/**
 * Every secret the tests give Meridian's worker or its providers, in one place: the tests that set
 * one take its value from here, and test/e2e/secrets-in-history.test.ts looks for each of them
 * (and for the form of the tokens made fresh per run) in every workflow history.
 *
 * The values are long and unlike any word, so that finding one anywhere means it leaked.
 */
export const SECRETS = {
  /** A metric provider's bearer token (`auth.bearerTokenEnv`), for the web and Prometheus providers. */
  metricsToken: 'mrdn-metrics-token-Q7xK9vLp2Wd',
  /** A bearer token the metrics server refuses. */
  wrongMetricsToken: 'mrdn-refused-token-H4c8Zp1RtY',
  /** Basic auth of a Prometheus behind an authenticating proxy (`auth.basicUserEnv`, `auth.basicPasswordEnv`). */
  metricsUser: 'mrdn-metrics-user-Jf5s',
  metricsPassword: 'mrdn-metrics-password-Vb3nT6wE',
  /** The password inside a database connection URL (`MERIDIAN_DATABASE_<NAME>`). */
  databasePassword: 'mrdn-db-password-Xk2Lq8Rm',
  /** A token that Unleash does not know. */
  unleashWrongToken: '*:*.mrdn-unknown-token-Pq9zS3',
} as const;

export type SecretName = keyof typeof SECRETS;

/** `user:password` as a Basic Authorization header carries it, base64 and all. */
export function basicCredentials(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

/** Every fixed secret, and the forms the worker derives from them (the Basic header's credentials). */
export const SECRET_VALUES: readonly { name: string; value: string }[] = [
  ...Object.entries(SECRETS).map(([name, value]) => ({ name, value })),
  { name: 'basic credentials', value: basicCredentials(SECRETS.metricsUser, SECRETS.metricsPassword) },
];

/**
 * Unleash API tokens in Unleash's `<project>:<environment>.<secret>` form. test/support/unleash.ts
 * makes them fresh for each run with `unleashToken`, so a history saved by another run is searched
 * for their form.
 */
export const UNLEASH_TOKEN = /\*:(?:\*|[\w-]+)\.[0-9a-f]{32}/;

/** A fresh Unleash API token for `environment` (`*` for an admin token of every environment). */
export function unleashToken(environment: string): string {
  return `*:${environment}.${randomBytes(16).toString('hex')}`;
}

export interface Finding {
  secret: string;
  /** raw: the text itself; base64: its base64 inside the text; decoded: inside a base64 string, once decoded. */
  how: 'raw' | 'base64' | 'decoded';
  /** Where in the JSON document: `events[12].activityTaskCompletedEventAttributes.result.payloads[0].data`. */
  where: string;
}

export interface SecretSearch {
  values: readonly { name: string; value: string }[];
  patterns: readonly { name: string; pattern: RegExp }[];
}

export const ALL_SECRETS: SecretSearch = { values: SECRET_VALUES, patterns: [{ name: 'Unleash token', pattern: UNLEASH_TOKEN }] };

/**
 * The stretches of base64 text that encode `value` wherever it sits in a longer byte string: one
 * for each of the three offsets modulo 3, without the characters it shares with its neighbours.
 */
export function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value);
  return [0, 1, 2].map((shift) => {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    return encoded.slice(Math.ceil((shift * 8) / 6), Math.floor(((shift + bytes.length) * 8) / 6));
  });
}

const BASE64 = /^[A-Za-z0-9+/]{8,}={0,2}$/;

/**
 * Every place a secret appears in a JSON document (a saved or fetched history): as plain text, as
 * base64 inside the text, and inside any base64 string once decoded, down through the JSON that
 * decoded payloads hold.
 */
export function findSecrets(json: string, search: SecretSearch = ALL_SECRETS): Finding[] {
  const findings: Finding[] = [];
  const forms = search.values.map((s) => ({ ...s, base64: base64Forms(s.value) }));
  const inText = (text: string, where: string, decoded: boolean) => {
    for (const s of forms) {
      if (text.includes(s.value)) findings.push({ secret: s.name, how: decoded ? 'decoded' : 'raw', where });
      if (s.base64.some((b) => text.includes(b))) findings.push({ secret: s.name, how: 'base64', where });
    }
    for (const p of search.patterns) if (p.pattern.test(text)) findings.push({ secret: p.name, how: decoded ? 'decoded' : 'raw', where });
  };
  inText(json, 'the whole document', false);
  const walk = (value: unknown, where: string, decodes: number): void => {
    if (typeof value === 'string') {
      if (decodes >= 4) return;
      if (!BASE64.test(value) || value.length % 4 !== 0) return;
      const text = Buffer.from(value, 'base64').toString('utf8');
      inText(text, where, true);
      const inner = parseJson(text);
      if (inner !== undefined) walk(inner, `${where}(decoded)`, decodes + 1);
      return;
    }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}[${i}]`, decodes));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, where ? `${where}.${k}` : k, decodes);
  };
  const document = parseJson(json);
  if (document !== undefined) walk(document, '', 0);
  return findings;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
