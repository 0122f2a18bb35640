/**
 * The package's version, read once from package.json (two folders up from the compiled module,
 * dist/core/), for each binary's `--version` and sipis's admin `/about`.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const VERSION: string = (require('../../package.json') as { version: string }).version;

/** `--version` or `-V` among the arguments: the binary prints `<name> <version>` and exits 0. */
export function versionRequested(argv: readonly string[]): boolean {
  return argv.includes('--version') || argv.includes('-V');
}
