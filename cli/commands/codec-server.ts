import { Option, type Command } from 'commander';
import { CliError, ExitCode } from '../exit-codes';
import { integer, name, nonBlank, webOrigin } from '../options';

export const AUTH_TOKEN_ENV = 'MERIDIAN_CODEC_AUTH_TOKEN';

const CODEC_SERVER_HELP = `
Decrypts (and encrypts) payloads for the Temporal Web UI and the temporal CLI, with the keys the
workers use: MERIDIAN_CODEC_KEYS (k2:<base64>,k1:<base64>, the first current) or
MERIDIAN_CODEC_KEY_FILE. Endpoints: POST .../decode and POST .../encode, body {"payloads": [...]}.

Web UI: give the dev server --ui-codec-endpoint http://127.0.0.1:8888 (meridian dev has the same
option), or enter the endpoint in the UI's codec server settings. The UI's origin must be allowed
(--allow-origin). CLI: temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:8888
(--codec-auth "Bearer <token>" when the server needs a token).

Anyone who can reach this server can decrypt history: keep it on loopback, or put a token on it
(--auth-token-env) and TLS in front of it. See docs/security.md.`;

interface CodecServerCommandOptions {
  port: number;
  host: string;
  allowOrigin?: string[];
  allowNamespace?: string[];
  authTokenEnv?: string;
  json?: boolean;
}

const collect = (parse: (v: string) => string) => (value: string, previous: string[] | undefined) => [...(previous ?? []), parse(value)];

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The bearer token the server demands, or undefined for none; a variable named but empty is an error. */
function authToken(opts: CodecServerCommandOptions, env: NodeJS.ProcessEnv): { token?: string; variable: string } {
  const variable = opts.authTokenEnv ?? AUTH_TOKEN_ENV;
  const token = env[variable]?.trim();
  if (opts.authTokenEnv && !token) {
    throw new CliError(`--auth-token-env ${variable}: ${variable} is not set or empty; export the token in it, or leave out --auth-token-env`, ExitCode.Usage);
  }
  return { token: token || undefined, variable };
}

export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description('serve Temporal\'s remote codec endpoints (/encode, /decode) so the Web UI and the temporal CLI can read encrypted history')
    .addOption(new Option('--port <port>', 'port to listen on; 0 picks a free one').default(8888).argParser(integer(0, 65_535)))
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1').argParser(nonBlank))
    .option('--allow-origin <origin>', 'origin of a page that may call the server, repeatable (default: http://localhost:8233 and http://127.0.0.1:8233, the dev server\'s UI)', collect(webOrigin))
    .option('--allow-namespace <name>', 'serve only requests whose X-Namespace is this namespace, repeatable (default: any)', collect(name))
    .option('--auth-token-env <name>', `variable holding the bearer token every request must carry (default: ${AUTH_TOKEN_ENV}, when set)`, name)
    .option('--json', 'print the startup line as JSON')
    .addHelpText('after', CODEC_SERVER_HELP)
    .action(async (opts: CodecServerCommandOptions) => {
      const [{ codecFromEnv, KEYS_ENV, KEY_FILE_ENV }, server] = await Promise.all([import('../../client/codec'), import('../codec-server')]);
      const codec = codecFromEnv();
      if (!codec) throw new CliError(`no keys to decode with: set ${KEYS_ENV} (k1:<base64 key>) or ${KEY_FILE_ENV}, the same keys the workers use`, ExitCode.Usage);
      const { token, variable } = authToken(opts, process.env);
      const allowOrigins = opts.allowOrigin ?? server.DEFAULT_ALLOW_ORIGINS;
      const log = (line: string) => process.stderr.write(`codec-server: ${line}\n`);
      const running = await server
        .startCodecServer({ codec, host: opts.host, port: opts.port, allowOrigins, authToken: token, namespaces: opts.allowNamespace, log })
        .catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') throw new CliError(`port ${opts.port} on ${opts.host} is taken; pick another with --port`, ExitCode.Usage);
          if (err.code === 'EADDRNOTAVAIL') throw new CliError(`--host ${opts.host} is not an address of this machine`, ExitCode.Usage);
          throw err;
        });
      const { current, older } = codec.keyset;
      const startup = {
        url: running.url,
        host: running.host,
        port: running.port,
        currentKey: current.id,
        olderKeys: older.map((k) => k.id),
        allowOrigins,
        namespaces: opts.allowNamespace ?? null,
        auth: token ? { bearerTokenFrom: variable } : null,
      };
      if (opts.json) process.stdout.write(`${JSON.stringify(startup)}\n`);
      else {
        const keys = older.length ? `${current.id} (current), ${older.map((k) => k.id).join(', ')}` : current.id;
        process.stdout.write(
          `codec server at ${running.url}: keys ${keys}; pages of ${allowOrigins.join(', ')} may call it; ` +
            `${token ? `requests need the bearer token in ${variable}` : 'no token needed'}; Ctrl-C stops it\n`,
        );
      }
      if (!token && !LOOPBACK.test(opts.host)) log(`listening on ${opts.host} without a token: anyone who reaches it can decrypt history; set --auth-token-env`);
      await untilStopped();
      await running.close();
    });
}

function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
