/**
 * Where a REGISTER came from, and how requests get back to the device.
 *
 * sipis-bridge (bridge/README.md "The contract with sipis") relays phones' TCP/TLS/WS flows as
 * UDP and tells us the real flow in `X-Sipis-Flow: id=FLOW;transport=tcp;src=ip:port`, and adds
 * `Path: <sip:FLOW@BRIDGE;lr;ob>` to every REGISTER. Anyone can write that header, so it is
 * believed only in datagrams whose source address is a configured bridge; from anyone else it
 * is ignored (and counted) and the binding is a plain UDP one at the datagram's source.
 *
 * Path (RFC 3327): from a bridge it is stored even without `Supported: path` (the bridge is a
 * trusted edge that cannot ask the phone); from a phone it is stored only when the phone says
 * `Supported: path` (RFC 3327 §5.3), and ignored otherwise.
 */
import { addressOf } from './auth-guard.js';
import { RegistrarError } from './errors.js';
import type { BindingFlow, SourceAddress } from './types.js';

export interface FlowHeader {
  id: string;
  transport: string;
  /** `ip:port` (IPv6 in brackets). */
  src: string;
}

const FLOW_ID_RE = /^[0-9a-z]+x[0-9a-z]+$/;
const TRANSPORTS = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** `id=FLOW;transport=tcp;src=1.2.3.4:5678` → fields, or undefined when malformed. */
export function parseFlowHeader(value: string): FlowHeader | undefined {
  let id: string | undefined;
  let transport: string | undefined;
  let src: string | undefined;
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim().toLowerCase();
    const v = part.slice(eq + 1).trim();
    if (k === 'id') id = v;
    else if (k === 'transport') transport = v.toLowerCase();
    else if (k === 'src') src = v;
  }
  if (!id || !FLOW_ID_RE.test(id) || !transport || !TRANSPORTS.has(transport) || !src) return undefined;
  if (!/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/.test(src)) return undefined;
  return { id, transport, src };
}

/**
 * The device's IP address: the one the trusted bridge names in X-Sipis-Flow, else the datagram's
 * source (what AuthGuard keys on).
 */
export function deviceAddress(source: SourceAddress, trust: BridgeTrust, flowHeader: string | undefined): string {
  if (flowHeader !== undefined && trust.trusts(source)) {
    const f = parseFlowHeader(flowHeader);
    if (f) return addressOf(f.src);
  }
  return source.address;
}

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The set of trusted bridge sources: entries are an IP (`10.0.0.5`, `::1`) trusting every port,
 * or `ip:port` / `[v6]:port` trusting one socket.
 */
export class BridgeTrust {
  private readonly hosts = new Set<string>();
  private readonly sockets = new Set<string>();

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const e = raw.trim();
      const m = /^\[([^\]]+)\]:(\d+)$/.exec(e) ?? /^([^:]+):(\d+)$/.exec(e);
      if (m) this.sockets.add(hostPort(m[1]!, Number(m[2])));
      else if (/^\[?[0-9a-fA-F:.]+\]?$/.test(e)) this.hosts.add(e.replace(/^\[|\]$/g, '').toLowerCase());
      else throw new RegistrarError('ERR_REGISTRAR_CONFIG', `bridge address "${e}" is not an IP or ip:port`);
    }
  }

  trusts(src: SourceAddress): boolean {
    return this.hosts.has(src.address.toLowerCase()) || this.sockets.has(hostPort(src.address, src.port));
  }

  get empty(): boolean {
    return this.hosts.size === 0 && this.sockets.size === 0;
  }
}

export interface FlowDecision {
  flow: BindingFlow;
  /** Path entries to store (name-addrs, in order). */
  path: string[];
  /** an X-Sipis-Flow header from an untrusted source was ignored. */
  spoofed: boolean;
}

/**
 * Decides the binding's flow and Path from the request and its datagram source.
 * `flowHeader` / `pathValues` / `supportsPath` are read from the request by the caller.
 */
export function decideFlow(
  source: SourceAddress,
  trust: BridgeTrust,
  flowHeader: string | undefined,
  pathValues: readonly string[],
  supportsPath: boolean,
): FlowDecision {
  const via = hostPort(source.address, source.port);
  const fromBridge = trust.trusts(source);
  if (fromBridge && flowHeader !== undefined) {
    const f = parseFlowHeader(flowHeader);
    if (f) {
      return { flow: { transport: f.transport, source: f.src, viaBridge: true, flowId: f.id, via }, path: [...pathValues], spoofed: false };
    }
  }
  return {
    flow: { transport: 'udp', source: via, viaBridge: false, via },
    path: fromBridge || supportsPath ? [...pathValues] : [],
    spoofed: !fromBridge && flowHeader !== undefined,
  };
}

/**
 * The flow and Path as stored in `device.flow_token` (schema v1 has no Path column: this JSON
 * text is the "opaque route back" the column is for). Decoded only at start-up.
 */
interface StoredFlow {
  v: 1;
  t: string;
  src: string;
  via: string;
  id?: string;
  path: string[];
}

export function encodeStoredFlow(flow: BindingFlow, path: readonly string[]): string {
  const s: StoredFlow = { v: 1, t: flow.transport, src: flow.source, via: flow.via, path: [...path] };
  if (flow.flowId !== undefined) s.id = flow.flowId;
  return JSON.stringify(s);
}

export function decodeStoredFlow(text: string | null, viaBridge: boolean, source: string | null): { flow: BindingFlow; path: string[] } {
  if (text === null) {
    // written by something else than this registrar: a plain UDP binding at `source`
    const src = source?.replace(/^[a-z]+:/, '') ?? '';
    return { flow: { transport: 'udp', source: src, viaBridge, via: src }, path: [] };
  }
  let s: StoredFlow;
  try {
    s = JSON.parse(text) as StoredFlow;
  } catch (err) {
    throw new RegistrarError('ERR_REGISTRAR_FLOW', 'stored flow is not JSON', { cause: err });
  }
  if (s?.v !== 1 || typeof s.t !== 'string' || typeof s.src !== 'string' || typeof s.via !== 'string' || !Array.isArray(s.path)) {
    throw new RegistrarError('ERR_REGISTRAR_FLOW', 'stored flow has an unknown shape');
  }
  const flow: BindingFlow = { transport: s.t, source: s.src, viaBridge, via: s.via };
  if (typeof s.id === 'string') flow.flowId = s.id;
  return { flow, path: s.path.filter((p): p is string => typeof p === 'string') };
}
