/**
 * The stateless relay between phone flows and the sipis shards (RFC 3261 §16.11 stateless
 * proxy; RFC 5626 edge proxy with flow tokens; RFC 5658 double Record-Route where the
 * transport changes). The contract with sipis is written down in bridge/README.md.
 *
 * Phone → sipis, request: our Via on top (branch carries the flow token), received/rport on
 * the phone's Via (RFC 3581), own Route entries popped, Max-Forwards decremented, Path on
 * REGISTER and two Record-Routes on dialog-creating requests (both name the flow), an
 * X-Sipis-Flow header (the phone's transport and source, replacing any the phone sent),
 * then UDP to the shard that owns the account.
 * sipis → phone, response: the top Via is ours; its branch names the flow; pop and write.
 * sipis → phone, request: own Route entries popped, the first names the flow; our Via on top.
 * Phone → sipis, response: pop our Via, send to the next Via (which must be a backend).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { accountKeyFromHeader, fnv1a32, keyHeaderFor, PROBE_BRANCH_PREFIX, type BackendProber, type ShardKeySource, type ShardRing } from '../core/shard/index.js';
import { buildBadRequestAnswer, requestLineVersion } from '../core/transport/bad-request.js';
import { BridgeError } from './errors.js';
import type { FlowTable, PhoneFlow } from './flow.js';
import type { BridgeMetrics } from './metrics.js';
import { Edits, findHeader, firstElementEnd, H, headerValue, nextElementStart, parseVia, scanMessage, uriParts, type HeaderField, type ScannedMessage, type ViaInfo } from './scan.js';

export const BRANCH_PREFIX = 'z9hG4bKsb.';
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

export interface RelayOptions {
  ring: ShardRing;
  keySource: ShardKeySource;
  /** host:port of the bridge's UDP socket as the backends see it. */
  udpAdvertise: string;
  flows: FlowTable;
  metrics: BridgeMetrics;
  log: Logger;
  prober?: BackendProber;
  /** addresses (IP literals) whose UDP datagrams are trusted: the backends and any extra. */
  trusted: ReadonlySet<string>;
  sendUdp(parts: Buffer[], port: number, host: string): void;
}

/** Where a flow-addressed request from sipis lost its way. */
interface OwnRoutes {
  flowId: string | undefined;
}

export class Relay {
  readonly #o: RelayOptions;
  /** host:port strings (lowercase) that are this bridge: own Route entries are popped. */
  readonly #own = new Set<string>();
  readonly #tag = randomBytes(4).toString('hex');

  constructor(opts: RelayOptions) {
    this.#o = opts;
    this.addOwnAddress(opts.udpAdvertise);
  }

  addOwnAddress(hostport: string): void {
    this.#own.add(hostport.toLowerCase());
  }

  // ───────────────────────────── phone → sipis ─────────────────────────────

  fromPhone(flow: PhoneFlow, buf: Buffer): void {
    let m: ScannedMessage;
    try {
      m = scanMessage(buf);
    } catch (err) {
      const [status, reason] = scanErrorStatus(buf, err);
      return this.#refuse(flow, buf, status, reason, 'bad-message', err);
    }
    if (m.isRequest) this.#phoneRequest(flow, m);
    else this.#phoneResponse(flow, m);
  }

  #phoneRequest(flow: PhoneFlow, m: ScannedMessage): void {
    const o = this.#o;
    const via = findHeader(m, H.VIA);
    const missing = MANDATORY.find((id) => !findHeader(m, id));
    if (!via || missing !== undefined) {
      return this.#refuse(flow, m.buf, 400, `Missing ${NAME[missing ?? H.VIA]}`, 'missing-header');
    }
    const viaEnd = firstElementEnd(m.buf, via.valueStart, via.valueEnd);
    const viaText = m.buf.toString('latin1', via.valueStart, viaEnd);
    let v: ViaInfo;
    try {
      v = parseVia(viaText);
    } catch (err) {
      return this.#refuse(flow, m.buf, 400, 'Bad Via', 'bad-via', err);
    }
    const topVia = this.#withReceived(viaText, v, flow.remoteAddress, flow.remotePort);
    const isAck = m.method === 'ACK';
    const mf = this.#maxForwards(m);
    if (mf === 0) {
      if (!isAck) this.#answerPhone(flow, m, 483, 'Too Many Hops', topVia);
      return this.#drop('too-many-hops');
    }
    const keyHeader = findHeader(m, keyHeaderFor(m.method, o.keySource) === 'to' ? H.TO : H.FROM)!;
    let key: string;
    try {
      key = accountKeyFromHeader(headerValue(m, keyHeader));
    } catch (err) {
      if (!isAck) this.#answerPhone(flow, m, 400, 'Bad From or To URI', topVia);
      return this.#drop('bad-key', err, flow.remoteAddress);
    }
    const backend = o.ring.lookup(key);
    if (!backend) {
      if (!isAck) this.#answerPhone(flow, m, 503, 'No Shard Available', topVia, 'Retry-After: 5\r\n');
      return this.#drop('no-backend');
    }
    const e = new Edits();
    const branch = `${BRANCH_PREFIX}${flow.id}.${fnv1a32(viaText).toString(16)}`;
    e.insert(via.lineStart, `Via: SIP/2.0/UDP ${o.udpAdvertise};branch=${branch}\r\n`);
    if (topVia !== viaText) e.replace(via.valueStart, viaEnd, topVia);
    this.#popOwnRoutes(m, e);
    this.#rewriteMaxForwards(m, e, mf);
    this.#stripFlowHeaders(m, e);
    const src = flow.remoteAddress.includes(':') ? `[${flow.remoteAddress}]:${flow.remotePort}` : `${flow.remoteAddress}:${flow.remotePort}`;
    e.insert(m.headersEnd, `X-Sipis-Flow: id=${flow.id};transport=${flow.listener.transport};src=${src}\r\n`);
    if (m.method === 'REGISTER') {
      // RFC 3327 Path with the flow token in the user part (RFC 5626 §5.1); first Path = us
      const path = findHeader(m, H.PATH);
      e.insert(path ? path.lineStart : m.headersEnd, `Path: <sip:${flow.id}@${o.udpAdvertise};lr;ob>\r\n`);
    } else if (DIALOG_CREATING.has(m.method) && !this.#hasToTag(m)) {
      // RFC 5658 double Record-Route: sipis's route set starts with our UDP side, the
      // phone's (reversed, RFC 3261 §12.1.2) with the side it is connected to.
      this.#insertRecordRoutes(m, e, `<sip:${flow.id}@${o.udpAdvertise};lr>`, this.#phoneSideUri(flow));
    }
    o.sendUdp(e.parts(m.buf), backend.port, backend.host);
    o.metrics.toBackend.inc(flow.listener.transport);
  }

  #phoneResponse(flow: PhoneFlow, m: ScannedMessage): void {
    const via = findHeader(m, H.VIA);
    if (!via) return this.#drop('missing-header', undefined, flow.remoteAddress);
    const e = new Edits();
    const ours = this.#popOwnVia(m, via, e);
    if (ours === undefined) return this.#drop('response-not-via-bridge', undefined, flow.remoteAddress);
    const next = this.#nextVia(m, via);
    if (!next) return this.#drop('response-without-next-via', undefined, flow.remoteAddress);
    const host = unbracket(next.received ?? next.host);
    if (!this.#o.trusted.has(host)) return this.#drop('response-to-untrusted', undefined, flow.remoteAddress);
    this.#o.sendUdp(e.parts(m.buf), next.rport ?? next.port ?? 5060, host);
    this.#o.metrics.toBackend.inc(flow.listener.transport);
  }

  // ───────────────────────────── sipis → phone ─────────────────────────────

  fromBackend(buf: Buffer, address: string, port: number): void {
    if (!this.#o.trusted.has(address)) return this.#drop('untrusted-source', undefined, address);
    let m: ScannedMessage;
    try {
      m = scanMessage(buf);
    } catch (err) {
      return this.#drop('bad-message', err, address);
    }
    if (m.isRequest) this.#backendRequest(m, address, port);
    else this.#backendResponse(m, address);
  }

  #backendResponse(m: ScannedMessage, address: string): void {
    const via = findHeader(m, H.VIA);
    if (!via) return this.#drop('missing-header', undefined, address);
    const end = firstElementEnd(m.buf, via.valueStart, via.valueEnd);
    let v: ViaInfo;
    try {
      v = parseVia(m.buf.toString('latin1', via.valueStart, end));
    } catch (err) {
      return this.#drop('bad-via', err, address);
    }
    if (v.branch.startsWith(PROBE_BRANCH_PREFIX)) {
      this.#o.prober?.handleResponse(v.branch);
      return;
    }
    if (!v.branch.startsWith(BRANCH_PREFIX)) return this.#drop('response-not-via-bridge', undefined, address);
    const flowId = v.branch.slice(BRANCH_PREFIX.length, v.branch.indexOf('.', BRANCH_PREFIX.length));
    const flow = this.#o.flows.get(flowId);
    if (!flow) return this.#drop('flow-gone');
    const e = new Edits();
    this.#removeFirstElement(m, via, end, e);
    if (flow.send(e.parts(m.buf))) this.#o.metrics.toPhone.inc(flow.listener.transport);
    else this.#drop('flow-send-failed');
  }

  #backendRequest(m: ScannedMessage, address: string, port: number): void {
    const via = findHeader(m, H.VIA);
    const isAck = m.method === 'ACK';
    if (!via || !findHeader(m, H.CALL_ID) || !findHeader(m, H.CSEQ) || !findHeader(m, H.FROM) || !findHeader(m, H.TO)) {
      return this.#drop('missing-header', undefined, address);
    }
    const viaEnd = firstElementEnd(m.buf, via.valueStart, via.valueEnd);
    const viaText = m.buf.toString('latin1', via.valueStart, viaEnd);
    let v: ViaInfo;
    try {
      v = parseVia(viaText);
    } catch (err) {
      return this.#drop('bad-via', err, address);
    }
    const e = new Edits();
    const routes = this.#popOwnRoutes(m, e);
    if (!routes.flowId) {
      if (!isAck) this.#answerBackend(m, 400, 'Missing Flow Token', address, port);
      return this.#drop('no-flow-token', undefined, address);
    }
    const flow = this.#o.flows.get(routes.flowId);
    if (!flow) {
      // RFC 5626 §5.3: the flow named by the token is gone; the registrar drops that binding
      if (!isAck) this.#answerBackend(m, 430, 'Flow Failed', address, port);
      return this.#drop('flow-gone');
    }
    const mf = this.#maxForwards(m);
    if (mf === 0) {
      if (!isAck) this.#answerBackend(m, 483, 'Too Many Hops', address, port);
      return this.#drop('too-many-hops');
    }
    const topVia = this.#withReceived(viaText, v, address, port);
    if (topVia !== viaText) e.replace(via.valueStart, viaEnd, topVia);
    const branch = `${BRANCH_PREFIX}${flow.id}.${fnv1a32(viaText).toString(16)}`;
    e.insert(via.lineStart, `Via: SIP/2.0/${flow.listener.viaTransport} ${flow.listener.advertise};branch=${branch}\r\n`);
    this.#rewriteMaxForwards(m, e, mf);
    this.#stripFlowHeaders(m, e);
    if (DIALOG_CREATING.has(m.method) && !this.#hasToTag(m)) {
      this.#insertRecordRoutes(m, e, this.#phoneSideUri(flow), `<sip:${flow.id}@${this.#o.udpAdvertise};lr>`);
    }
    if (flow.send(e.parts(m.buf))) this.#o.metrics.toPhone.inc(flow.listener.transport);
    else this.#drop('flow-send-failed');
  }

  // ───────────────────────────── helpers ─────────────────────────────

  #phoneSideUri(flow: PhoneFlow): string {
    return `<sip:${flow.id}@${flow.listener.advertise};transport=${flow.listener.transport};lr>`;
  }

  #insertRecordRoutes(m: ScannedMessage, e: Edits, first: string, second: string): void {
    const rr = findHeader(m, H.RECORD_ROUTE);
    e.insert(rr ? rr.lineStart : m.headersEnd, `Record-Route: ${first}\r\nRecord-Route: ${second}\r\n`);
  }

  /** RFC 3261 §18.2.1 / RFC 3581 §4: received when sent-by differs or rport was asked; rport filled when the port is known. */
  #withReceived(viaText: string, v: ViaInfo, address: string, port: number): string {
    const sameHost = unbracket(v.host) === address;
    if (sameHost && !v.hasRport) return viaText;
    let text = viaText;
    if (v.received !== undefined || v.rport !== undefined || v.hasRport) {
      text = text.replace(/;\s*(received|rport)(\s*=\s*[^;]*)?/gi, '');
    }
    text += `;received=${address}`;
    // port 0: a WebSocket flow, whose source port uWebSockets.js does not tell; the phone's rport
    // stays as it sent it (not filled in) rather than naming a port that is not one
    if (v.hasRport) text += port > 0 ? `;rport=${port}` : ';rport';
    return text;
  }

  /** The Max-Forwards value, or -1 when absent (RFC 3261 §16.6 step 3). */
  #maxForwards(m: ScannedMessage): number {
    const h = findHeader(m, H.MAX_FORWARDS);
    if (!h) return -1;
    const n = Number(m.buf.toString('latin1', h.valueStart, h.valueEnd));
    return Number.isInteger(n) && n >= 0 ? n : 70;
  }

  #rewriteMaxForwards(m: ScannedMessage, e: Edits, mf: number): void {
    const h = findHeader(m, H.MAX_FORWARDS);
    if (h) e.replace(h.valueStart, h.valueEnd, String(Math.min(mf, 256) - 1));
    else e.insert(m.headersEnd, 'Max-Forwards: 69\r\n');
  }

  #stripFlowHeaders(m: ScannedMessage, e: Edits): void {
    for (const h of m.headers) if (h.id === H.X_SIPIS_FLOW) e.remove(h.lineStart, h.lineEnd);
  }

  #hasToTag(m: ScannedMessage): boolean {
    const to = findHeader(m, H.TO);
    if (!to) return false;
    const value = m.buf.toString('latin1', to.valueStart, to.valueEnd).toLowerCase();
    const gt = value.lastIndexOf('>');
    return /;\s*tag\s*=/.test(gt >= 0 ? value.slice(gt) : value);
  }

  /** Pops the leading Route elements that name this bridge; the first one's user part is the flow token. */
  #popOwnRoutes(m: ScannedMessage, e: Edits): OwnRoutes {
    const out: OwnRoutes = { flowId: undefined };
    for (const h of m.headers) {
      if (h.id !== H.ROUTE) continue;
      let start = h.valueStart;
      while (start < h.valueEnd) {
        const end = firstElementEnd(m.buf, start, h.valueEnd);
        const uri = uriParts(m.buf.toString('latin1', start, end));
        if (!uri || !this.#own.has(`${uri.host}:${uri.port ?? 5060}`)) {
          if (start > h.valueStart) e.replace(h.valueStart, start, undefined); // popped a prefix of this line
          return out;
        }
        if (out.flowId === undefined && uri.user) out.flowId = uri.user;
        if (end >= h.valueEnd) {
          e.remove(h.lineStart, h.lineEnd); // every element of this line was ours
          break;
        }
        start = nextElementStart(m.buf, end, h.valueEnd);
      }
    }
    return out;
  }

  /** Removes the top Via element if it is ours; returns its branch, or undefined when not ours. */
  #popOwnVia(m: ScannedMessage, via: HeaderField, e: Edits): string | undefined {
    const end = firstElementEnd(m.buf, via.valueStart, via.valueEnd);
    let v: ViaInfo;
    try {
      v = parseVia(m.buf.toString('latin1', via.valueStart, end));
    } catch {
      return undefined;
    }
    if (!v.branch.startsWith(BRANCH_PREFIX)) return undefined;
    this.#removeFirstElement(m, via, end, e);
    return v.branch;
  }

  #removeFirstElement(m: ScannedMessage, h: HeaderField, end: number, e: Edits): void {
    if (end >= h.valueEnd) e.remove(h.lineStart, h.lineEnd);
    else e.remove(h.valueStart, nextElementStart(m.buf, end, h.valueEnd));
  }

  /** The Via after the top one: the next element of the same line, or the next Via line. */
  #nextVia(m: ScannedMessage, top: HeaderField): ViaInfo | undefined {
    const end = firstElementEnd(m.buf, top.valueStart, top.valueEnd);
    let text: string | undefined;
    if (end < top.valueEnd) {
      const s = nextElementStart(m.buf, end, top.valueEnd);
      text = m.buf.toString('latin1', s, firstElementEnd(m.buf, s, top.valueEnd));
    } else {
      const i = m.headers.indexOf(top);
      for (let j = i + 1; j < m.headers.length; j++) {
        const h = m.headers[j]!;
        if (h.id === H.VIA) {
          text = m.buf.toString('latin1', h.valueStart, firstElementEnd(m.buf, h.valueStart, h.valueEnd));
          break;
        }
      }
    }
    if (text === undefined) return undefined;
    try {
      return parseVia(text);
    } catch {
      return undefined;
    }
  }

  /** A response built from a request (RFC 3261 §8.2.6), with `topVia` replacing the first Via element. */
  #response(m: ScannedMessage, status: number, reason: string, topVia: string | undefined, extra = ''): Buffer {
    let out = `SIP/2.0 ${status} ${reason}\r\n`;
    let first = true;
    for (const h of m.headers) {
      if (h.id === H.VIA) {
        if (first && topVia !== undefined) {
          const end = firstElementEnd(m.buf, h.valueStart, h.valueEnd);
          out += `Via: ${topVia}${m.buf.toString('latin1', end, h.valueEnd)}\r\n`;
        } else out += `Via: ${m.buf.toString('latin1', h.valueStart, h.valueEnd)}\r\n`;
        first = false;
      } else if (h.id === H.FROM || h.id === H.CALL_ID || h.id === H.CSEQ) {
        out += `${NAME[h.id]}: ${m.buf.toString('latin1', h.valueStart, h.valueEnd)}\r\n`;
      } else if (h.id === H.TO) {
        const to = m.buf.toString('latin1', h.valueStart, h.valueEnd);
        out += `To: ${to}${this.#hasToTag(m) ? '' : `;tag=${this.#tag}`}\r\n`;
      }
    }
    out += `${extra}Server: sipis-bridge\r\nContent-Length: 0\r\n\r\n`;
    return Buffer.from(out, 'latin1');
  }

  #answerPhone(flow: PhoneFlow, m: ScannedMessage, status: number, reason: string, topVia: string, extra?: string): void {
    flow.send([this.#response(m, status, reason, topVia, extra)]);
  }

  /**
   * A request from the phone that the bridge cannot relay. RFC 3261 §16.3 says a proxy that
   * rejects a request answers it as a UAS would. The answer is built from the request's raw lines,
   * the way sipis answers what its parser refuses (core/transport/bad-request.ts), and is sent on
   * the phone's connection, which stays up. Responses, ACKs and requests without a Via are only
   * dropped.
   */
  #refuse(flow: PhoneFlow, buf: Buffer, status: number, reason: string, dropReason: string, err?: unknown): void {
    const answer = buildBadRequestAnswer(buf, status, reason, this.#tag);
    if (answer !== null) flow.send([answer]);
    this.#drop(dropReason, err, flow.remoteAddress);
  }

  /**
   * A request refused by the framer for its size, by its complete header block: answered 513
   * Message Too Large on its connection (which then closes). False when it cannot be answered
   * (a response, an ACK, no Via).
   */
  refuseTooLarge(flow: PhoneFlow, head: Buffer): boolean {
    const answer = buildBadRequestAnswer(head, 513, 'Message Too Large', this.#tag);
    if (answer === null) return false;
    flow.send([answer]);
    return true;
  }

  #answerBackend(m: ScannedMessage, status: number, reason: string, address: string, port: number): void {
    this.#o.sendUdp([this.#response(m, status, reason, undefined)], port, address);
  }

  #drop(reason: string, err?: unknown, from?: string): void {
    this.#o.metrics.dropped.inc(reason);
    if (this.#o.log.isLevelEnabled('debug')) {
      this.#o.log.debug({ reason, from, err: err instanceof Error ? { code: (err as { code?: string }).code, message: err.message } : undefined }, 'message dropped');
    }
  }
}

const NAME: Record<number, string> = { [H.VIA]: 'Via', [H.FROM]: 'From', [H.TO]: 'To', [H.CALL_ID]: 'Call-ID', [H.CSEQ]: 'CSeq' };
/** What a request must carry to be relayed (RFC 3261 §8.1.1; Max-Forwards is optional here). */
const MANDATORY = [H.CALL_ID, H.CSEQ, H.FROM, H.TO];

/**
 * The answer to a request the bridge's scanner refused: 505 for a request line of another SIP
 * version (RFC 3261 §21.5.6, RFC 4475 §3.1.2.16), else 400 naming what was wrong.
 */
function scanErrorStatus(buf: Buffer, err: unknown): [number, string] {
  const code = err instanceof BridgeError ? err.code : undefined;
  if (code === 'ERR_SCAN_BAD_START_LINE') {
    const lf = buf.indexOf(0x0a);
    const line = buf.toString('latin1', 0, lf < 0 ? Math.min(buf.length, 1024) : Math.min(lf, 1024)).replace(/\r$/, '');
    const version = requestLineVersion(line);
    if (version !== undefined && version !== '2.0') return [505, 'Version Not Supported'];
    return [400, 'Bad Request Line'];
  }
  if (code === 'ERR_SCAN_BAD_HEADER') return [400, 'Bad Header'];
  if (code === 'ERR_SCAN_TOO_MANY_HEADERS') return [400, 'Too Many Headers'];
  return [400, 'Bad Request'];
}

function unbracket(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}
