/**
 * Prometheus text exposition (format 0.0.4) of the bridge's counters and gauges. Plain
 * objects keyed by label value: the hot path does `counter.inc(label)`, a Map lookup and an
 * add; formatting happens only when /metrics is scraped.
 */
import type { ShardRing } from '../core/shard/index.js';

export class LabeledCounter {
  readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly label: string, readonly type: 'counter' | 'gauge' = 'counter') {}
  inc(labelValue: string, by = 1): void {
    this.values.set(labelValue, (this.values.get(labelValue) ?? 0) + by);
  }
  dec(labelValue: string): void {
    this.inc(labelValue, -1);
  }
  get(labelValue: string): number {
    return this.values.get(labelValue) ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const [k, v] of this.values) out += `${this.name}{${this.label}="${escapeLabel(k)}"} ${v}\n`;
    return out;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class BridgeMetrics {
  readonly connections = new LabeledCounter('sipis_bridge_connections', 'Open phone connections by transport.', 'transport', 'gauge');
  readonly connectionsTotal = new LabeledCounter('sipis_bridge_connections_total', 'Phone connections accepted by transport.', 'transport');
  readonly connectionsRejected = new LabeledCounter('sipis_bridge_connections_rejected_total', 'Connections refused or closed by a limit.', 'reason');
  readonly toBackend = new LabeledCounter('sipis_bridge_messages_to_backend_total', 'Messages relayed from phones to sipis, by phone transport.', 'transport');
  readonly toPhone = new LabeledCounter('sipis_bridge_messages_to_phone_total', 'Messages relayed from sipis to phones, by phone transport.', 'transport');
  readonly framingErrors = new LabeledCounter('sipis_bridge_framing_errors_total', 'Streams closed for broken framing, by error code.', 'code');
  readonly dropped = new LabeledCounter('sipis_bridge_messages_dropped_total', 'Messages dropped or answered by the bridge itself, by reason.', 'reason');
  readonly keepAlives = new LabeledCounter('sipis_bridge_keepalive_pings_total', 'RFC 5626 CRLFCRLF pings answered.', 'transport');
  readonly backendChanges = new LabeledCounter('sipis_bridge_backend_state_changes_total', 'Backends going out of or back into service.', 'backend');

  render(ring: ShardRing): string {
    let out = '';
    for (const c of [this.connections, this.connectionsTotal, this.connectionsRejected, this.toBackend, this.toPhone, this.framingErrors, this.dropped, this.keepAlives, this.backendChanges]) out += c.render();
    out += '# HELP sipis_bridge_backend_up Whether a sipis backend is in service (1) or out (0).\n# TYPE sipis_bridge_backend_up gauge\n';
    for (const b of ring.backends) out += `sipis_bridge_backend_up{backend="${escapeLabel(b.id)}"} ${b.up ? 1 : 0}\n`;
    out += '# HELP sipis_bridge_backend_weight Configured weight of a sipis backend.\n# TYPE sipis_bridge_backend_weight gauge\n';
    for (const b of ring.backends) out += `sipis_bridge_backend_weight{backend="${escapeLabel(b.id)}"} ${b.weight}\n`;
    return out;
  }
}
