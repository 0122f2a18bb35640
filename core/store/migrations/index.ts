/**
 * Every migration, in order. Migrations are TS modules exporting SQL text (tsc does not copy
 * .sql files into dist/). A migration, once released, is never edited: add the next one.
 */
import * as m001 from './001_initial.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [m001];

export const latestVersion = migrations[migrations.length - 1]!.version;
