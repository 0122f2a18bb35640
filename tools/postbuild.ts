/**
 * Runs after `tsc`: tsc writes the binaries with mode 644, so `npx sipis-ctl` and friends
 * would not start from dist/. Marks every "bin" entry of package.json executable.
 */
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../fixtures/paths.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
for (const file of Object.values(pkg.bin ?? {})) {
  const path = join(repoRoot, file);
  if (existsSync(path)) chmodSync(path, 0o755);
}
