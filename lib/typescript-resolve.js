// Lets Node run the TypeScript sources as they are, on its own type stripping: relative imports
// are written without an extension (`./plan`), which Node's resolver does not complete. The hook
// runs in this thread and only on imports the default resolver could not find.
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

const SUFFIXES = ['.ts', '/index.ts', '.js', '/index.js'];
const MISSING = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT']);

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (!MISSING.has(err?.code) || /\.[cm]?[jt]s$|\.json$/.test(specifier)) throw err;
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        for (const suffix of SUFFIXES) {
          const url = new URL(specifier + suffix, context.parentURL);
          if (existsSync(fileURLToPath(url))) return nextResolve(url.href, context);
        }
      } else {
        for (const suffix of ['.js', '/index.js']) {
          try {
            return nextResolve(specifier + suffix, context);
          } catch {}
        }
      }
      throw err;
    }
  },
});
