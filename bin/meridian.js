#!/usr/bin/env node
// Runs the TypeScript CLI on Node's own type stripping, with no build step and no compiler at start-up.
// Everything past the version check is imported dynamically, so an older Node gets that one line.
import '../lib/require-node.js';
import * as nodeModule from 'node:module';

nodeModule.enableCompileCache?.();
await import('../lib/typescript-resolve.js');
await import(new URL('../cli/main.ts', import.meta.url).href);
