import '../lib/require-node.js';
import { classifyError } from './errors';
import { buildProgram } from './program';

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    const { code, message } = classifyError(err);
    if (message) process.stderr.write(message.includes('\n') ? `${message}\n` : `meridian: ${message}\n`);
    if (process.env.MERIDIAN_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}

main().then((code) => process.exit(code));
