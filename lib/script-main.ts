import type { Command } from 'commander';

/**
 * Runs a script's commander program and exits: 0, or the exit code an action set; 2 for a usage
 * error (commander printed it); 1 for any other error, printed as one line after the script's name.
 */
export function runScript(name: string, program: Command): void {
  const run = async (): Promise<number> => {
    try {
      await program.parseAsync(process.argv);
      return Number(process.exitCode ?? 0);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
      if (code?.startsWith('commander.')) return 2;
      process.stderr.write(`${name}: ${(err as Error).message}\n`);
      return 1;
    }
  };
  void run().then((code) => process.exit(code));
}
