// Plain JavaScript, so that it parses and runs on any Node.js before TypeScript is loaded.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REQUIRED_NODE_MAJOR = 24;

const BUNDLED_NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));

/**
 * The one line to print when `found` (a `process.versions.node`) cannot run Meridian, or undefined.
 * `bundled` says whether `npm install` has put a Node.js binary in node_modules/.bin.
 */
export function nodeVersionProblem(found, bundled) {
  const major = Number(found.split('.')[0]);
  if (major >= REQUIRED_NODE_MAJOR) return undefined;
  const fix = bundled
    ? 'run Meridian through npm, which uses the Node.js that npm install put in node_modules: npx meridian <command>, or npm run demo'
    : `run npm install (it brings Node.js ${REQUIRED_NODE_MAJOR} on Linux x64 and arm64), or install Node.js ${REQUIRED_NODE_MAJOR} from https://nodejs.org/en/download`;
  return `meridian: Node.js ${found} cannot run Meridian, which needs Node.js ${REQUIRED_NODE_MAJOR} or newer; ${fix}`;
}

/** Stops the process with that line before anything else loads. */
export function requireSupportedNode() {
  const problem = nodeVersionProblem(process.versions.node, existsSync(BUNDLED_NODE));
  if (!problem) return;
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
