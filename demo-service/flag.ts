import { randomBytes } from 'node:crypto';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { NOOP_PROVIDER, OpenFeature, type Client, type EvaluationContext, type EvaluationDetails, type FlagValue } from '@openfeature/server-sdk';

export type FlagType = 'boolean' | 'string' | 'number';

export interface FlagSource {
  /** A flagd flag definition file; flagd's in-process evaluator reads it and polls it for changes (every 5 s). */
  file: string;
  key: string;
  /** The variant that sends a request down the new code path. */
  newPathVariant: string;
  /** The type of the flag's values; a flag of another type evaluates to an error and the current path. */
  type: FlagType;
}

export interface FlagReader {
  source: FlagSource;
  /** The variant `targetingKey` gets; 'none' when it gets none (no flag, an evaluation error). */
  evaluate(targetingKey: string | undefined): Promise<{ variant: string; newPath: boolean }>;
  close(): Promise<void>;
}

const DEFAULTS: Record<FlagType, FlagValue> = { boolean: false, string: '', number: 0 };

/**
 * One flag read through OpenFeature with flagd's in-process provider over `source.file`, in a
 * domain of its own so several versions in one process each read their own file.
 */
export async function openFlag(source: FlagSource, name: string): Promise<FlagReader> {
  const domain = `${name}/${randomBytes(4).toString('hex')}`;
  const provider = new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: source.file });
  await OpenFeature.setProviderAndWait(domain, provider);
  const client = OpenFeature.getClient(domain);
  return {
    source,
    async evaluate(targetingKey) {
      const details = await evaluateTyped(client, source, targetingKey);
      const variant = details.errorCode === undefined ? (details.variant ?? 'none') : 'none';
      return { variant, newPath: variant === source.newPathVariant };
    },
    async close() {
      await OpenFeature.setProviderAndWait(domain, NOOP_PROVIDER);
      await provider.onClose();
    },
  };
}

function evaluateTyped(client: Client, source: FlagSource, targetingKey: string | undefined): Promise<EvaluationDetails<FlagValue>> {
  const context: EvaluationContext = targetingKey === undefined ? {} : { targetingKey };
  switch (source.type) {
    case 'boolean':
      return client.getBooleanDetails(source.key, DEFAULTS.boolean as boolean, context);
    case 'string':
      return client.getStringDetails(source.key, DEFAULTS.string as string, context);
    case 'number':
      return client.getNumberDetails(source.key, DEFAULTS.number as number, context);
  }
}
