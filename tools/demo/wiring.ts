/**
 * The device side of sipis (DeviceRegistrar + PushClient + Tunnel) for the local stack. When the
 * server built them itself (core/server/app.ts wires them from the config: domain, digest
 * secret, bridges, mediator URL and key), they are used as they are; otherwise they are
 * assembled here on the server's transaction layer, the way fixtures/e2e/stack.ts does, so
 * `npm start` and `npm run demo` work with either server.
 */
import type { Logger } from 'pino';
import { PushClient } from '../../core/push/index.js';
import { DeviceRegistrar } from '../../core/registrar/index.js';
import type { SipisServer } from '../../core/server/app.js';
import type { Store } from '../../core/store/index.js';
import { attachTunnel, createTunnel, tunnelPush, type Tunnel, type TunnelAccounts, type TunnelConfig } from '../../core/tunnel/index.js';
import type { UpstreamAccount } from '../../core/upstream/types.js';

export interface DeviceSide {
  registrar: DeviceRegistrar;
  push: PushClient;
  tunnel: Tunnel;
  /** true when the server wired them (nothing to close here). */
  builtIn: boolean;
  close(): void;
}

export interface DeviceSideOptions {
  domain: string;
  digestSecret: string;
  /** bridge source addresses (`ip:port`) whose X-Sipis-Flow is believed. */
  bridges: string[];
  mediatorUrl: string;
  mediatorApiKey: string;
  /** sipp answers only the first challenge, with MD5 (core/registrar notes). */
  algorithms?: Array<'MD5' | 'SHA-256'>;
  tunnel?: Partial<TunnelConfig>;
  log: Logger;
}

/** The pieces a server that wired them exposes (core/server/app.ts once it does). */
interface WiredServer {
  registrar?: DeviceRegistrar;
  push?: PushClient;
  tunnel?: Tunnel;
}

/**
 * The upstream engine's accounts for the tunnel; `findByUser` (a phone's own requests) from a
 * `user@host` map kept in step with the store's change notifications.
 */
class StackAccounts implements TunnelAccounts {
  private readonly byKey = new Map<string, string>();
  private readonly off: () => void;
  constructor(
    private readonly sipis: SipisServer,
    store: Store,
  ) {
    this.off = store.onAccountChange((ev) => {
      if (ev.type !== 'change') return;
      if (ev.change.op === 'DELETE') this.forget(String(ev.change.id));
      else this.byKey.set(ev.change.shardKey.toLowerCase(), String(ev.change.id));
    });
  }
  async load(store: Store): Promise<void> {
    for (let afterId: number | null = 0; afterId !== null; ) {
      const page = await store.accounts.list({ limit: 1000, afterId });
      for (const a of page.rows) this.byKey.set(a.shardKey.toLowerCase(), String(a.id));
      afterId = page.nextAfterId;
    }
  }
  get(id: string): UpstreamAccount | undefined {
    return this.sipis.engine.get(id)?.account;
  }
  findByUser(user: string, host: string): UpstreamAccount | undefined {
    const exact = this.byKey.get(`${user}@${host}`.toLowerCase());
    if (exact !== undefined) return this.get(exact);
    // the AOR's user at the sipis domain: the only account with that user
    let found: string | undefined;
    for (const [key, id] of this.byKey) {
      if (key.slice(0, key.lastIndexOf('@')) !== user.toLowerCase()) continue;
      if (found !== undefined) return undefined;
      found = id;
    }
    return found === undefined ? undefined : this.get(found);
  }
  private forget(id: string): void {
    for (const [k, v] of this.byKey) if (v === id) this.byKey.delete(k);
  }
  close(): void {
    this.off();
  }
}

export async function deviceSide(sipis: SipisServer, opts: DeviceSideOptions): Promise<DeviceSide> {
  const wired = sipis as SipisServer & WiredServer;
  if (wired.registrar && wired.push && wired.tunnel) {
    return { registrar: wired.registrar, push: wired.push, tunnel: wired.tunnel, builtIn: true, close: () => undefined };
  }
  const log = opts.log;
  const registrar = new DeviceRegistrar({ store: sipis.store, domain: opts.domain, digestSecret: opts.digestSecret, algorithms: opts.algorithms ?? ['MD5', 'SHA-256'], bridges: opts.bridges, log });
  await registrar.start();
  const unfollow = registrar.followAccountChanges(sipis.store);
  const push = new PushClient({ url: opts.mediatorUrl, apiKey: opts.mediatorApiKey, registrar, log });
  const accounts = new StackAccounts(sipis, sipis.store);
  await accounts.load(sipis.store);
  const tunnel = createTunnel({ layer: sipis.layer, registrar, push: tunnelPush(push), store: sipis.store.messages, accounts, config: opts.tunnel ?? {}, logger: log, localHosts: [opts.domain] });
  attachTunnel(sipis.layer, tunnel, (tx, req, src) => void registrar.handleRegister(tx, req, src));
  return {
    registrar,
    push,
    tunnel,
    builtIn: false,
    close() {
      tunnel.close();
      push.close();
      unfollow();
      accounts.close();
      registrar.close();
    },
  };
}
