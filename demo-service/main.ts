import { parseArgs } from 'node:util';
import type { FlagType } from './flag';
import { startDemoService } from './server';

/**
 * `tsx demo-service/main.ts --version 2.3.1 --version 2.4.0 [--port 8081] [--host 127.0.0.1]
 * [--service checkout] [--upstream URL]... [--drop-fields total,currency]...
 * [--flag-file FILE --flag-key KEY [--flag-variant on] [--flag-type boolean] [--new-path-error-rate 0.2]]...`
 * serves each version on consecutive ports from --port (0: any free ports) and prints one JSON line,
 * `{"versions":[{"version":"2.3.1","url":"http://127.0.0.1:8081"},...]}`, once it listens.
 *
 * --service adds a `service` label to every series. --upstream and --drop-fields set the behaviour
 * of the same name: given once, for every version; given once per --version, for each in order
 * (`--upstream ''` and `--drop-fields ''` mean none).
 *
 * --flag-file and --flag-key make a version read that flagd flag for every request (the user is the
 * `x-user` header or `?user=`); requests on --flag-variant take the new code path, which fails at
 * --new-path-error-rate. Each is given once for all versions or once per version (`--flag-file ''`:
 * no flag for that version).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      version: { type: 'string', multiple: true, default: ['stable', 'canary'] },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      service: { type: 'string' },
      upstream: { type: 'string', multiple: true, default: [] },
      'drop-fields': { type: 'string', multiple: true, default: [] },
      'flag-file': { type: 'string', multiple: true, default: [] },
      'flag-key': { type: 'string', multiple: true, default: [] },
      'flag-variant': { type: 'string', multiple: true, default: [] },
      'flag-type': { type: 'string', multiple: true, default: [] },
      'new-path-error-rate': { type: 'string', multiple: true, default: [] },
    },
  });
  const base = Number(values.port);
  if (!Number.isInteger(base) || base < 0 || base > 65_535) throw new Error(`--port must be a port number, got "${values.port}"`);
  const versions = values.version;
  const upstreams = perVersion('--upstream', values.upstream, versions.length);
  const drops = perVersion('--drop-fields', values['drop-fields'], versions.length);
  const flagFiles = perVersion('--flag-file', values['flag-file'], versions.length);
  const flagKeys = perVersion('--flag-key', values['flag-key'], versions.length);
  const flagVariants = perVersion('--flag-variant', values['flag-variant'], versions.length);
  const flagTypes = perVersion('--flag-type', values['flag-type'], versions.length);
  const newPathErrorRates = perVersion('--new-path-error-rate', values['new-path-error-rate'], versions.length);
  const service = await startDemoService({
    host: values.host,
    service: values.service,
    versions: versions.map((version, i) => ({
      version,
      port: base === 0 ? 0 : base + i,
      behaviour: {
        ...(upstreams[i] !== undefined && { upstream: upstreams[i] === '' ? null : upstreams[i] }),
        ...(drops[i] !== undefined && { dropFields: drops[i].split(',').map((f) => f.trim()).filter((f) => f !== '') }),
        ...(newPathErrorRates[i] !== undefined && { newPathErrorRate: Number(newPathErrorRates[i]) }),
      },
      flag: flagOf(flagFiles[i], flagKeys[i], flagVariants[i], flagTypes[i]),
    })),
  });
  process.stdout.write(`${JSON.stringify({ versions: service.versions })}\n`);
  const stop = () => void service.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function flagOf(file: string | undefined, key: string | undefined, variant: string | undefined, type: string | undefined) {
  if (file === undefined || file === '') return undefined;
  if (key === undefined || key === '') throw new Error('--flag-file needs --flag-key');
  if (type !== undefined && !['boolean', 'string', 'number'].includes(type)) throw new Error(`--flag-type must be boolean, string or number, got "${type}"`);
  return { file, key, ...(variant !== undefined && { newPathVariant: variant }), ...(type !== undefined && { type: type as FlagType }) };
}

/** One value per version: none, one for all, or one each. */
function perVersion(flag: string, given: string[], count: number): (string | undefined)[] {
  if (given.length === 0) return Array.from({ length: count }, () => undefined);
  if (given.length === 1) return Array.from({ length: count }, () => given[0]);
  if (given.length === count) return given;
  throw new Error(`${flag} is given ${given.length} times for ${count} versions: give it once for all, or once per --version`);
}

main().catch((err) => {
  console.error(`demo service: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
