import { z } from 'zod';

/*
 * The spec's `flags`, `flagProvider`, a region's `flags` and the `flag` step. Types live in
 * flags.ts, which workflow code reads.
 */

const name = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be lower-case letters, digits, "-" or "."');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
/** `{{region}}` in a provider's names becomes each region's name. */
const perRegion = z.string().regex(/^[a-z0-9]([a-z0-9.{}-]*[a-z0-9}])?$/, 'must be lower-case letters, digits, "-", "." or {{region}}');

/** flagd in process: the worker writes the region's flag file `$MERIDIAN_FLAGD_DIR/<file>.json`, which the service's provider watches. */
export const flagdProvider = z.strictObject({ type: z.literal('flagd'), file: perRegion });
/** Unleash's admin API: one environment per region (the region's name unless given); the admin token is read by the worker from `tokenEnv`. */
export const unleashProvider = z.strictObject({
  type: z.literal('unleash'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  project: z.string().min(1).default('default'),
  environment: perRegion.optional(),
  tokenEnv: envName,
});
export const flagProvider = z.discriminatedUnion('type', [flagdProvider, unleashProvider]);
export const FLAG_PROVIDER_TYPES = ['flagd', 'unleash'] as const;

export const flag = z.strictObject({
  key: name,
  /** Variant name -> the value the service reads through OpenFeature. */
  variants: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  /** The variant every user gets when the flag is off; a rollback sets it first, in every region touched. */
  killSwitch: z.string().min(1),
  /** The variant users outside the rolled-out fraction get; the kill switch unless given. */
  defaultVariant: z.string().min(1).optional(),
  /** The new version is safe with this flag at its kill switch, so `onFailure: killSwitchOnly` may keep it deployed. */
  safeWhenOff: z.boolean().default(false),
});

/** A region's flag settings: its own provider, and a cap on the fraction any flag step may reach there. */
export const regionFlags = z.strictObject({
  provider: flagProvider.optional(),
  /** Percent; a flag step's fraction above it is cut to it in this region. */
  maxFraction: z.number().min(0).max(100).optional(),
});

/** `variant` of `flag` for `fraction` percent of the region's users, sticky per user; the others get the flag's default. */
export const flagStep = z.strictObject({
  kind: z.literal('flag'),
  flag: z.string().min(1),
  variant: z.string().min(1),
  fraction: z.number().min(0).max(100),
});

/** What a failure undoes: everything (`rollback`), or only the flags (`killSwitchOnly`: the new version stays deployed). */
export const FLAG_FAILURE_MODES = ['rollback', 'killSwitchOnly'] as const;
