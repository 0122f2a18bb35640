/** What every sipis-ctl command gets: parsed globals, a lazily opened store, output streams. */
import type { Readable } from 'node:stream';
import { loadStoreConfig, Store, type Keyring } from '../../core/store/index.js';
import { UsageError } from './args.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** standard input as a stream (bulk import). */
  stdin(): Readable;
}

export interface Globals {
  db?: string;
  keyFile?: string;
  json: boolean;
}

export class Context {
  private store: Store | null = null;
  constructor(
    readonly globals: Globals,
    readonly io: Io,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  config(): { url: string; keyring: Keyring | undefined } {
    const c = loadStoreConfig({ url: this.globals.db, keyFile: this.globals.keyFile }, this.env);
    if (!c.url) throw new UsageError('no database: give --db URL or set SIPIS_DB_URL (or DATABASE_URL)');
    return { url: c.url, keyring: c.keyring };
  }

  /** opens the store without migrating (that is `db migrate`'s job) and without LISTEN. */
  async open(opts: { migrate?: boolean } = {}): Promise<Store> {
    if (this.store) return this.store;
    const { url, keyring } = this.config();
    this.store = await Store.open({
      url,
      keyring,
      migrate: opts.migrate ?? false,
      listen: false,
      size: 2,
      connectTimeoutMs: 5000,
      acquireTimeoutMs: 5000,
      appName: 'sipis-ctl',
    });
    return this.store;
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = null;
  }
}
