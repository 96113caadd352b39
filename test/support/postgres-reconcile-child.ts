/**
 * Runs one reconciliation in its own process, printing each committed checkpoint as a JSON line,
 * so a test can SIGKILL it mid-way: `tsx postgres-reconcile-child.ts '<ReconcileInput as JSON>'`.
 */
import { reconcile, type ReconcileInput } from '../../activities/postgres/reconcile';

const input = JSON.parse(process.argv[2]!) as ReconcileInput;
const result = await reconcile(input, undefined, { onBatch: (checkpoint) => process.stdout.write(`${JSON.stringify(checkpoint)}\n`) });
process.stdout.write(`${JSON.stringify({ done: result })}\n`);
