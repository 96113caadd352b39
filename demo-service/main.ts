import { parseArgs } from 'node:util';
import { startDemoService } from './server';

/**
 * `tsx demo-service/main.ts --version 2.3.1 --version 2.4.0 [--port 8081] [--host 127.0.0.1]`
 * serves each version on consecutive ports from --port (0: any free ports) and prints one JSON line,
 * `{"versions":[{"version":"2.3.1","url":"http://127.0.0.1:8081"},...]}`, once it listens.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      version: { type: 'string', multiple: true, default: ['stable', 'canary'] },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const base = Number(values.port);
  if (!Number.isInteger(base) || base < 0 || base > 65_535) throw new Error(`--port must be a port number, got "${values.port}"`);
  const service = await startDemoService({
    host: values.host,
    versions: values.version.map((version, i) => ({ version, port: base === 0 ? 0 : base + i })),
  });
  process.stdout.write(`${JSON.stringify({ versions: service.versions })}\n`);
  const stop = () => void service.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  console.error(`demo service: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
