/**
 * What every listener shares: limits, the flow table, the relay, counters, the per-source
 * connection counts and the slowloris sweep.
 */
import type { Logger } from 'pino';
import type { FlowTable, PhoneFlow } from './flow.js';
import type { BridgeMetrics } from './metrics.js';
import type { Relay } from './relay.js';

export interface Limits {
  /** one SIP message, headers and body (also the WebSocket payload limit). */
  maxMessageBytes: number;
  /** a message's headers must be complete this long after its first byte (slowloris). */
  headerTimeoutMs: number;
  /** a connection with no traffic either way for this long is closed; 0 = never. */
  idleTimeoutMs: number;
  /** open connections from one source address. */
  maxConnectionsPerAddress: number;
  /** bytes queued for a phone that does not read before its connection is closed. */
  maxWriteBufferBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxMessageBytes: 65536,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConnectionsPerAddress: 200,
  maxWriteBufferBytes: 1 << 20,
};

/** A flow whose framer may hold a partial message, for the slowloris sweep. */
export interface PartialHolder {
  readonly partialSince: number;
  close(reason: string): void;
}

export class BridgeContext {
  readonly perAddress = new Map<string, number>();
  readonly partial = new Set<PartialHolder>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: Limits,
    readonly flows: FlowTable,
    readonly relay: Relay,
    readonly metrics: BridgeMetrics,
    readonly log: Logger,
  ) {}

  /** Counts a new connection from `address`; false (and counted) when over the limit. */
  admit(address: string): boolean {
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.limits.maxConnectionsPerAddress) {
      this.metrics.connectionsRejected.inc('per-address-limit');
      this.log.warn({ address, limit: this.limits.maxConnectionsPerAddress }, 'connection refused: too many from this address');
      return false;
    }
    this.perAddress.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }

  opened(flow: PhoneFlow): void {
    this.flows.add(flow);
    this.metrics.connections.inc(flow.listener.transport);
    this.metrics.connectionsTotal.inc(flow.listener.transport);
  }

  closed(flow: PhoneFlow): void {
    this.flows.delete(flow);
    this.metrics.connections.dec(flow.listener.transport);
  }

  /**
   * One timer for all connections: every second, close those whose partial message began
   * more than headerTimeoutMs ago. Only connections holding a partial message are visited.
   */
  startSweep(): void {
    const period = Math.max(100, Math.min(1000, this.limits.headerTimeoutMs / 4));
    this.#sweep = setInterval(() => {
      const deadline = Date.now() - this.limits.headerTimeoutMs;
      for (const p of this.partial) {
        if (p.partialSince === 0) this.partial.delete(p);
        else if (p.partialSince < deadline) {
          this.partial.delete(p);
          this.metrics.connectionsRejected.inc('header-timeout');
          p.close('message not complete within the header timeout');
        }
      }
    }, period);
    this.#sweep.unref();
  }

  stopSweep(): void {
    if (this.#sweep) clearInterval(this.#sweep);
  }
}
