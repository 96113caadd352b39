#!/usr/bin/env node
// Loads the TypeScript CLI through tsx in this process, so `npx meridian` works without a build step.
import '../lib/require-node.js';
import { register } from 'tsx/esm/api';

register();
await import(new URL('../cli/main.ts', import.meta.url).href);
