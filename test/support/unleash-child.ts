/**
 * One Unleash 7 server for a test, in its own process so the test can stop it with a signal:
 * `node unleash-child.ts '<UnleashChildConfig as JSON>'`. Prints `unleash listening` once it serves.
 */

export interface UnleashChildConfig {
  databaseUrl: string;
  port: number;
  /** Secrets in Unleash's `<project>:<environment>.<random>` form. */
  adminTokens: string[];
  backendTokens: string[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as UnleashChildConfig;

// Unleash reads these when its modules load, hence the import below comes after them. Token
// secrets in `<project>:<environment>.x` form carry their own scope.
process.env.INIT_ADMIN_API_TOKENS = config.adminTokens.join(',');
process.env.INIT_BACKEND_API_TOKENS = config.backendTokens.join(',');
// The test cluster listens on loopback without TLS; Unleash would otherwise ask for it.
process.env.DATABASE_SSL = 'false';
const { IAuthType, LogLevel, start } = await import('unleash-server');

const unleash = await start({
  databaseUrl: config.databaseUrl,
  server: { port: config.port, host: '127.0.0.1', gracefulShutdownEnable: false, enableRequestLogger: false },
  authentication: { type: IAuthType.OPEN_SOURCE, createAdminUser: false, enableApiToken: true },
  logLevel: LogLevel.warn,
  telemetry: false,
  versionCheck: { enable: false },
});
console.log('unleash listening');

const stop = async () => {
  await unleash.stop().catch(() => undefined);
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
