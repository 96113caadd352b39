import { parseArgs } from 'node:util';
import { startDemoService } from './server';

/**
 * `tsx demo-service/main.ts --version 2.3.1 --version 2.4.0 [--port 8081] [--host 127.0.0.1]
 * [--service checkout] [--upstream URL]... [--drop-fields total,currency]...`
 * serves each version on consecutive ports from --port (0: any free ports) and prints one JSON line,
 * `{"versions":[{"version":"2.3.1","url":"http://127.0.0.1:8081"},...]}`, once it listens.
 *
 * --service adds a `service` label to every series. --upstream and --drop-fields set the behaviour
 * of the same name: given once, for every version; given once per --version, for each in order
 * (`--upstream ''` and `--drop-fields ''` mean none).
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
    },
  });
  const base = Number(values.port);
  if (!Number.isInteger(base) || base < 0 || base > 65_535) throw new Error(`--port must be a port number, got "${values.port}"`);
  const versions = values.version;
  const upstreams = perVersion('--upstream', values.upstream, versions.length);
  const drops = perVersion('--drop-fields', values['drop-fields'], versions.length);
  const service = await startDemoService({
    host: values.host,
    service: values.service,
    versions: versions.map((version, i) => ({
      version,
      port: base === 0 ? 0 : base + i,
      behaviour: {
        ...(upstreams[i] !== undefined && { upstream: upstreams[i] === '' ? null : upstreams[i] }),
        ...(drops[i] !== undefined && { dropFields: drops[i].split(',').map((f) => f.trim()).filter((f) => f !== '') }),
      },
    })),
  });
  process.stdout.write(`${JSON.stringify({ versions: service.versions })}\n`);
  const stop = () => void service.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
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
