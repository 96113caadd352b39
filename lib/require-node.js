// Imported first by every entry point: `import '../lib/require-node.js'`.
import { requireSupportedNode } from './node-version.js';

requireSupportedNode();
