/**
 * Every migration, in order. Migrations are TS modules exporting SQL text (tsc does not copy
 * .sql files into dist/). A migration, once released, is never edited: add the next one.
 */
import * as m001 from './001_initial.js';
import * as m002 from './002_cleanup.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [m001, m002];

export const latestVersion = migrations[migrations.length - 1]!.version;
