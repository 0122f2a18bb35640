/**
 * One HTTP/2 client connection (RFC 9113) over a TLS (ALPN "h2") or plain TCP socket: the
 * mediator's own lean client, in place of node:http2. What it does per request is small on
 * purpose: HPACK-encode the headers into a shared scratch buffer, lay HEADERS and DATA frames
 * into the Outbox, and flush everything written during one event-loop turn with one socket
 * write. Responses are parsed straight from the socket's buffers; the body is kept only when
 * the caller wants it (always for an error status).
 *
 * Guarantees: every request settles exactly once (response, or an UpstreamError saying
 * whether the peer may have processed it); a malformed frame from the peer is a connection
 * error (GOAWAY with the RFC 9113 §7 code, then close), never an exception escaping.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { UpstreamError } from '../errors.js';
import { H2Error, H2_CANCEL, H2_FLOW_CONTROL_ERROR, H2_NO_ERROR, H2_PROTOCOL_ERROR } from './errors.js';
import * as F from './frames.js';
import { DEFAULT_HEADER_TABLE_SIZE, HpackDecoder, HpackEncoder } from './hpack.js';
import { writeRequestHeaders } from './request-headers.js';
import { LOCAL_STREAM_WINDOW, Stream, type H2Response, type ResponseSink, type SessionOptions, type SessionOwner } from './stream.js';

export type { H2Response, ResponseSink, SessionOptions, SessionOwner } from './stream.js';


/** Our receive windows: responses are small, so one large window and no per-stream updates. */
const LOCAL_CONN_WINDOW = 16 * 1024 * 1024;
const LOCAL_MAX_HEADER_LIST = 64 * 1024;
/** A header block split over CONTINUATION frames may not grow past this (CONTINUATION floods). */
const MAX_HEADER_BLOCK = 2 * LOCAL_MAX_HEADER_LIST;
const LAST_STREAM_ID = 0x7fff_ffff;
const EMPTY = Buffer.alloc(0);




export class H2Session {
  /** The peer's settings (RFC 9113 §6.5.2), defaults until its SETTINGS arrive. */
  maxConcurrentStreams = Infinity;
  private remoteInitialWindow = F.DEFAULT_WINDOW;
  private remoteMaxFrame = F.MIN_MAX_FRAME_SIZE;

  ready = false;
  /** No new streams: GOAWAY received or sent, or stream ids used up. */
  draining = false;
  closed = false;
  active = 0;
  lastUse = Date.now();

  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private connSendWindow = F.DEFAULT_WINDOW;
  private recvWindow = LOCAL_CONN_WINDOW;
  private recvConsumed = 0;
  private blocked: Stream[] = [];
  private readonly out = new F.Outbox();
  private readonly encoder = new HpackEncoder();
  private readonly decoder = new HpackDecoder(DEFAULT_HEADER_TABLE_SIZE, LOCAL_MAX_HEADER_LIST);
  private readonly fields: string[] = [];
  private inbuf: Buffer | undefined;
  /** A header block being continued (RFC 9113 §6.10): its stream, flags and fragments. */
  private contStream = 0;
  private contFlags = 0;
  private contParts: Buffer[] = [];
  private contLen = 0;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private pingPayload: Buffer | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingSeq = 0;
  private closeWaiters: Array<() => void> = [];
  private readonly flushBound = () => this.flush();
  private readonly sweepBound = () => this.sweep();

  constructor(
    private readonly socket: Socket,
    private readonly owner: SessionOwner,
    private readonly opts: SessionOptions,
  ) {
    socket.setNoDelay(true);
    // With `externalRead` the owner created the socket with an `onread` buffer and hands each
    // read to `receive` (no stream machinery and no Buffer per read); else 'data' events.
    if (!opts.externalRead) socket.on('data', (chunk: Buffer) => this.receive(chunk, chunk.length));
    socket.on('error', (err: Error) => this.teardown(new H2Error('ERR_H2_CONNECTION', `socket error: ${err.message}`, { cause: err })));
    socket.on('close', () => this.teardown(new H2Error('ERR_H2_CONNECTION', 'connection closed by the peer')));
    if (socket instanceof TLSSocket) {
      socket.once('secureConnect', () => {
        // RFC 9113 §3.2: "h2" must be negotiated; anything else is not an HTTP/2 server.
        if (socket.alpnProtocol !== 'h2') this.connectionError(new H2Error('ERR_H2_ALPN', `peer negotiated ${String(socket.alpnProtocol || 'no ALPN protocol')}, not h2`));
      });
    }
    // §3.4 preface, our SETTINGS (§6.5), and a connection window larger than the default 64 KiB.
    this.out.raw(F.PREFACE);
    this.out.settings([
      [F.SETTINGS_ENABLE_PUSH, 0],
      [F.SETTINGS_INITIAL_WINDOW_SIZE, LOCAL_STREAM_WINDOW],
      [F.SETTINGS_HEADER_TABLE_SIZE, DEFAULT_HEADER_TABLE_SIZE],
      [F.SETTINGS_MAX_HEADER_LIST_SIZE, LOCAL_MAX_HEADER_LIST],
    ]);
    this.out.windowUpdate(0, LOCAL_CONN_WINDOW - F.DEFAULT_WINDOW);
    this.flush();
  }

  /** True while a new stream may be opened (the pool also checks the concurrency limit). */
  get usable(): boolean {
    return this.ready && !this.draining && !this.closed;
  }

  /** Opens a stream: HEADERS (+ DATA) queued for this turn's write. The caller checked `usable`. */
  request(headers: OutgoingHttpHeaders, body: Buffer, timeoutMs: number, wantBody: boolean, sink: ResponseSink): void {
    const id = this.nextId;
    this.nextId += 2;
    // §5.1.1: stream ids cannot be reused; a connection that ran out is drained and replaced.
    if (this.nextId > LAST_STREAM_ID) this.draining = true;
    const now = Date.now();
    this.lastUse = now;
    const st = new Stream(id, sink, wantBody, timeoutMs, now + timeoutMs, this.remoteInitialWindow);
    this.streams.set(id, st);
    this.active++;
    writeRequestHeaders(this.encoder, this.out, id, headers, body.length === 0, this.opts, this.remoteMaxFrame);
    if (body.length === 0) st.localEnded = true;
    else {
      st.body = body;
      // Streams already waiting for window go first (no overtaking).
      if (this.blocked.length > 0) {
        st.blocked = true;
        this.blocked.push(st);
      } else this.sendData(st);
    }
    if (this.timer === undefined || st.deadline < this.timerAt) this.armTimer(st.deadline);
    this.scheduleFlush();
  }

  /** PING the peer (§6.7); no ACK within `timeoutMs` closes the connection. */
  ping(timeoutMs: number): void {
    if (this.closed || this.pingPayload) return;
    const p = Buffer.alloc(8);
    p.writeUInt32BE(++this.pingSeq, 4);
    this.pingPayload = p;
    this.out.ping(p, false);
    this.flush();
    this.pingTimer = setTimeout(() => {
      this.opts.log.warn('PING unanswered; dropping connection');
      this.connectionError(new H2Error('ERR_H2_PING_TIMEOUT', `no PING ACK within ${timeoutMs} ms`));
    }, timeoutMs);
    this.pingTimer.unref();
  }

  /** Graceful close (§6.8): GOAWAY, no new streams, the socket ends once open streams finish. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.draining = true;
    this.sendGoaway(H2_NO_ERROR, 'client closing');
    if (this.active === 0) this.end(undefined);
    return p;
  }

  /** Immediate close: open streams fail as unprocessed. */
  destroy(err: Error): void {
    this.teardown(err);
  }

  // ---- writing -------------------------------------------------------------------------

  private goawaySent = false;

  private sendGoaway(code: number, debug: string): void {
    if (this.goawaySent || this.closed) return;
    this.goawaySent = true;
    // We accept no peer-initiated streams: the last one we processed is 0.
    this.out.goaway(0, code, debug);
    this.flush();
  }


  /** §6.9: sends as much of the body as both windows and the frame size allow; the rest waits. */
  private sendData(st: Stream): void {
    const body = st.body!;
    while (st.bodyOff < body.length) {
      let n = body.length - st.bodyOff;
      if (n > st.sendWindow) n = st.sendWindow;
      if (n > this.connSendWindow) n = this.connSendWindow;
      if (n > this.remoteMaxFrame) n = this.remoteMaxFrame;
      if (n <= 0) {
        if (!st.blocked) {
          st.blocked = true;
          this.blocked.push(st);
        }
        return;
      }
      const last = st.bodyOff + n === body.length;
      this.out.frame(F.DATA, last ? F.FLAG_END_STREAM : 0, st.id, body, st.bodyOff, n);
      st.bodyOff += n;
      st.sendWindow -= n;
      this.connSendWindow -= n;
    }
    st.localEnded = true;
    st.body = undefined;
  }

  private resumeBlocked(): void {
    if (this.blocked.length === 0) return;
    const list = this.blocked;
    this.blocked = [];
    for (const st of list) {
      st.blocked = false;
      if (st.done || st.localEnded) continue;
      if (this.blocked.length > 0) {
        st.blocked = true;
        this.blocked.push(st);
      } else this.sendData(st);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private flush(): void {
    this.flushScheduled = false;
    const data = this.out.take();
    if (data === undefined || this.socket.destroyed) return;
    if (!Array.isArray(data)) {
      this.socket.write(data);
      return;
    }
    this.socket.cork();
    for (const b of data) this.socket.write(b);
    this.socket.uncork();
  }

  // ---- timeouts ------------------------------------------------------------------------

  /** One timer per connection for all stream deadlines, armed for the earliest. */
  private armTimer(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.sweepBound, Math.max(0, at - Date.now()));
  }

  private sweep(): void {
    this.timer = undefined;
    const now = Date.now();
    let next = Infinity;
    for (const st of this.streams.values()) {
      if (st.deadline <= now) {
        this.abort(st, new UpstreamError('ERR_UPSTREAM_TIMEOUT', `no response within ${st.timeoutMs} ms`), H2_CANCEL, false);
      } else if (st.deadline < next) next = st.deadline;
    }
    if (next !== Infinity) this.armTimer(next);
    this.afterStreamsClosed();
  }

  // ---- settling streams ----------------------------------------------------------------

  /** The response is complete. */
  private finish(st: Stream): void {
    if (st.done) return;
    this.close1(st);
    // §8.1: the server answered before our body was complete: stop sending it.
    if (!st.localEnded) {
      this.out.rstStream(st.id, H2_CANCEL);
      this.scheduleFlush();
    }
    const c = st.chunks;
    const body = c === undefined || c.length === 0 ? EMPTY : c.length === 1 ? c[0]! : Buffer.concat(c);
    st.sink.resolve({ status: st.status, headers: st.headers!, body });
    this.owner.onStreamClosed(this);
    this.afterStreamsClosed();
  }

  /**
   * Ends a stream without a complete response. With `partialOk` a stream that already has its
   * response headers resolves with what arrived (a reset after the answer loses nothing).
   */
  private abort(st: Stream, err: Error, rstCode: number, partialOk: boolean, notify = true): void {
    if (st.done) return;
    this.close1(st);
    if (rstCode >= 0 && !this.closed) {
      this.out.rstStream(st.id, rstCode);
      this.scheduleFlush();
    }
    if (partialOk && st.headers) {
      const c = st.chunks;
      st.sink.resolve({ status: st.status, headers: st.headers, body: c === undefined || c.length === 0 ? EMPTY : Buffer.concat(c) });
    } else st.sink.reject(err);
    if (notify) this.owner.onStreamClosed(this);
  }

  private close1(st: Stream): void {
    st.done = true;
    st.body = undefined;
    this.streams.delete(st.id);
    this.active--;
  }

  /** A draining connection ends once its last stream is done. */
  private afterStreamsClosed(): void {
    if (this.draining && this.active === 0 && !this.closed && (this.goawaySent || this.goawayReceived)) this.end(undefined);
  }

  // ---- reading -------------------------------------------------------------------------

  private gotSettings = false;
  private goawayReceived = false;

  /**
   * Octets `chunk[0..n)` from the peer. The chunk may be a read buffer the socket reuses: what
   * must outlive this call (a partial frame, a body, a header block fragment) is copied.
   */
  receive(chunk: Buffer, n: number): void {
    if (this.closed) return;
    let buf = chunk;
    let bufEnd = n;
    if (this.inbuf !== undefined) {
      buf = Buffer.concat([this.inbuf, chunk.subarray(0, n)]);
      bufEnd = buf.length;
      this.inbuf = undefined;
    }
    let off = 0;
    try {
      while (bufEnd - off >= F.FRAME_HEADER) {
        const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
        // §4.2: we never raised SETTINGS_MAX_FRAME_SIZE from its 16384 default.
        if (len > F.MIN_MAX_FRAME_SIZE) throw new H2Error('ERR_H2_FRAME_SIZE', `frame of ${len} octets over 16384`);
        if (bufEnd - off - F.FRAME_HEADER < len) break;
        const type = buf[off + 3]!;
        const flags = buf[off + 4]!;
        // §4.1: the reserved bit is ignored.
        const sid = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
        const start = off + F.FRAME_HEADER;
        off = start + len;
        this.onFrame(type, flags, sid, buf, start, off);
        if (this.closed) return;
      }
    } catch (err) {
      this.connectionError(err instanceof H2Error ? err : new H2Error('ERR_H2_PROTOCOL', `internal error handling a frame: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (off < bufEnd) this.inbuf = Buffer.from(buf.subarray(off, bufEnd));
  }

  private onFrame(type: number, flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    // §3.4: the server's preface is a SETTINGS frame.
    if (!this.gotSettings && (type !== F.SETTINGS || flags & F.FLAG_ACK)) throw protocol('the server preface is not a SETTINGS frame');
    // §6.10: nothing may come between a HEADERS without END_HEADERS and its CONTINUATIONs.
    if (this.contStream !== 0 && (type !== F.CONTINUATION || sid !== this.contStream)) throw protocol('header block interrupted');
    switch (type) {
      case F.DATA:
        return this.onDataFrame(flags, sid, buf, start, end);
      case F.HEADERS:
        return this.onHeadersFrame(flags, sid, buf, start, end);
      case F.CONTINUATION:
        return this.onContinuation(flags, sid, buf, start, end);
      case F.RST_STREAM:
        return this.onRstStream(sid, buf, start, end);
      case F.SETTINGS:
        return this.onSettings(flags, sid, buf, start, end);
      case F.PING:
        return this.onPing(flags, sid, buf, start, end);
      case F.GOAWAY:
        return this.onGoaway(sid, buf, start, end);
      case F.WINDOW_UPDATE:
        return this.onWindowUpdate(sid, buf, start, end);
      case F.PUSH_PROMISE:
        // §8.4: we sent SETTINGS_ENABLE_PUSH 0.
        throw protocol('PUSH_PROMISE with push disabled');
      case F.PRIORITY:
        if (end - start !== 5) throw new H2Error('ERR_H2_FRAME_SIZE', 'PRIORITY frame not 5 octets');
        return;
      default:
        // §4.1: unknown frame types are ignored.
        return;
    }
  }

  /** A stream id the peer refers to that we never opened is a connection error (§5.1 "idle"). */
  private checkKnown(sid: number, what: string): void {
    if (sid === 0 || (sid & 1) === 0 || sid >= this.nextId) throw protocol(`${what} on stream ${sid}, which we never opened`);
  }

  private onDataFrame(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    this.checkKnown(sid, 'DATA');
    // §6.9.1: the whole payload, padding included, counts against the connection window.
    const len = end - start;
    if (len > this.recvWindow) throw new H2Error('ERR_H2_FLOW_CONTROL', 'DATA beyond our connection window');
    this.recvWindow -= len;
    this.recvConsumed += len;
    if (this.recvConsumed >= LOCAL_CONN_WINDOW / 2) {
      this.out.windowUpdate(0, this.recvConsumed);
      this.recvWindow += this.recvConsumed;
      this.recvConsumed = 0;
      this.scheduleFlush();
    }
    if (flags & F.FLAG_PADDED) {
      if (len < 1) throw protocol('PADDED DATA without a pad length');
      const pad = buf[start]!;
      start++;
      if (pad > end - start) throw protocol('DATA padding longer than the payload');
      end -= pad;
    }
    const st = this.streams.get(sid);
    if (st === undefined) return; // a stream we reset or timed out: §5.1 frames in flight are ignored
    if (st.status === 0) {
      this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', 'DATA before the response headers'), H2_PROTOCOL_ERROR, false);
      return;
    }
    st.recvWindow -= len;
    if (st.recvWindow < 0) {
      this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', 'response body beyond the stream window'), H2_FLOW_CONTROL_ERROR, false);
      return;
    }
    if (st.chunks !== undefined && end > start) st.chunks.push(Buffer.from(buf.subarray(start, end)));
    if (flags & F.FLAG_END_STREAM) this.finish(st);
  }

  private onHeadersFrame(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    this.checkKnown(sid, 'HEADERS');
    let pad = 0;
    if (flags & F.FLAG_PADDED) {
      if (end - start < 1) throw protocol('PADDED HEADERS without a pad length');
      pad = buf[start++]!;
    }
    if (flags & F.FLAG_PRIORITY) start += 5;
    if (start > end - pad) throw protocol('HEADERS padding or priority longer than the payload');
    end -= pad;
    if (flags & F.FLAG_END_HEADERS) return this.onHeaderBlock(sid, flags, buf, start, end);
    this.contStream = sid;
    this.contFlags = flags;
    this.contParts = [Buffer.from(buf.subarray(start, end))];
    this.contLen = end - start;
  }

  private onContinuation(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (this.contStream === 0 || sid !== this.contStream) throw protocol('CONTINUATION without a header block');
    this.contLen += end - start;
    if (this.contLen > MAX_HEADER_BLOCK) throw new H2Error('ERR_H2_HEADER_LIST', `header block over ${MAX_HEADER_BLOCK} octets`);
    this.contParts.push(Buffer.from(buf.subarray(start, end)));
    if (!(flags & F.FLAG_END_HEADERS)) return;
    const block = Buffer.concat(this.contParts);
    this.contStream = 0;
    this.contParts = [];
    this.onHeaderBlock(sid, this.contFlags, block, 0, block.length);
  }

  private onHeaderBlock(sid: number, flags: number, buf: Buffer, start: number, end: number): void {
    const f = this.fields;
    // Decoded even for a stream we no longer track: the HPACK table must stay in step (§4.3).
    const nf = this.decoder.decode(buf, start, end, f, 0);
    const st = this.streams.get(sid);
    if (st === undefined) return;
    const endStream = (flags & F.FLAG_END_STREAM) !== 0;
    if (st.status !== 0) {
      // §8.1 trailers: must end the stream; their fields are not needed.
      if (!endStream) return this.malformed(st, 'second HEADERS without END_STREAM');
      return this.finish(st);
    }
    let status = 0;
    const h: Record<string, string> = {};
    for (let i = 0; i < nf; i += 2) {
      const name = f[i]!;
      const value = f[i + 1]!;
      if (name.charCodeAt(0) === 58 /* ':' */) {
        // §8.3.2: a response has exactly one pseudo-header, :status, before the others.
        if (name !== ':status' || status !== 0 || i !== 0) return this.malformed(st, `unexpected pseudo-header ${name}`);
        status = value.length === 3 ? Number(value) : NaN;
        if (!(status >= 100 && status <= 599)) return this.malformed(st, `bad :status ${value}`);
        continue;
      }
      const prev = h[name];
      h[name] = prev === undefined ? value : `${prev}, ${value}`;
    }
    if (status === 0) return this.malformed(st, 'response without :status');
    if (status < 200) {
      // §8.1 informational response: the final one follows.
      if (endStream) return this.malformed(st, 'informational response with END_STREAM');
      return;
    }
    st.status = status;
    st.headers = h;
    if (status !== 200 || st.wantBody) st.chunks = [];
    if (endStream) this.finish(st);
  }

  /** §8.1.1: a malformed response is a stream error of type PROTOCOL_ERROR. */
  private malformed(st: Stream, why: string): void {
    this.opts.log.warn({ streamId: st.id, why }, 'malformed HTTP/2 response');
    this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', `malformed response: ${why}`), H2_PROTOCOL_ERROR, false);
  }

  private onRstStream(sid: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new H2Error('ERR_H2_FRAME_SIZE', 'RST_STREAM not 4 octets');
    this.checkKnown(sid, 'RST_STREAM');
    const st = this.streams.get(sid);
    if (st === undefined) return;
    const code = buf.readUInt32BE(start);
    this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', `stream closed without response (RST code ${code})`), -1, true);
    this.afterStreamsClosed();
  }

  private onSettings(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) throw protocol('SETTINGS on a stream');
    if (flags & F.FLAG_ACK) {
      if (end !== start) throw new H2Error('ERR_H2_FRAME_SIZE', 'SETTINGS ACK with a payload');
      return;
    }
    if ((end - start) % 6 !== 0) throw new H2Error('ERR_H2_FRAME_SIZE', 'SETTINGS length not a multiple of 6');
    for (let p = start; p < end; p += 6) {
      const id = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      switch (id) {
        case F.SETTINGS_HEADER_TABLE_SIZE:
          this.encoder.setPeerTableSize(v);
          break;
        case F.SETTINGS_ENABLE_PUSH:
          // §6.5.2: a server never enables push; 1 from a server is a PROTOCOL_ERROR.
          if (v !== 0) throw protocol(`SETTINGS_ENABLE_PUSH ${v} from a server`);
          break;
        case F.SETTINGS_MAX_CONCURRENT_STREAMS:
          this.maxConcurrentStreams = v;
          break;
        case F.SETTINGS_INITIAL_WINDOW_SIZE: {
          if (v > F.MAX_WINDOW) throw new H2Error('ERR_H2_FLOW_CONTROL', `SETTINGS_INITIAL_WINDOW_SIZE ${v} over 2^31-1`);
          // §6.9.2: the change applies to every open stream's send window.
          const delta = v - this.remoteInitialWindow;
          this.remoteInitialWindow = v;
          for (const st of this.streams.values()) {
            st.sendWindow += delta;
            if (st.sendWindow > F.MAX_WINDOW) throw new H2Error('ERR_H2_FLOW_CONTROL', 'stream window overflow after SETTINGS');
          }
          break;
        }
        case F.SETTINGS_MAX_FRAME_SIZE:
          if (v < F.MIN_MAX_FRAME_SIZE || v > F.MAX_MAX_FRAME_SIZE) throw protocol(`SETTINGS_MAX_FRAME_SIZE ${v} out of range`);
          this.remoteMaxFrame = v;
          break;
        default:
          // MAX_HEADER_LIST_SIZE is advisory (ours are small); unknown settings are ignored (§6.5.2).
          break;
      }
    }
    this.out.settings([], true);
    this.scheduleFlush();
    this.gotSettings = true;
    this.ready = true;
    this.resumeBlocked();
    this.owner.onRemoteSettings(this);
  }

  private onPing(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 8) throw new H2Error('ERR_H2_FRAME_SIZE', 'PING not 8 octets');
    if (sid !== 0) throw protocol('PING on a stream');
    if (flags & F.FLAG_ACK) {
      if (this.pingPayload !== undefined && buf.compare(this.pingPayload, 0, 8, start, end) === 0) {
        this.pingPayload = undefined;
        clearTimeout(this.pingTimer);
      }
      return;
    }
    this.out.ping(buf.subarray(start, end), true);
    this.scheduleFlush();
  }

  private onGoaway(sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) throw protocol('GOAWAY on a stream');
    if (end - start < 8) throw new H2Error('ERR_H2_FRAME_SIZE', 'GOAWAY shorter than 8 octets');
    const last = buf.readUInt32BE(start) & 0x7fff_ffff;
    const code = buf.readUInt32BE(start + 4);
    this.goawayReceived = true;
    this.draining = true;
    this.owner.onGoaway(this, code, last);
    // §6.8: streams above last-stream-id were not processed and may be retried elsewhere.
    for (const st of this.streams.values()) {
      if (st.id > last) this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', `refused by GOAWAY (last stream ${last}, code ${code})`), -1, false, false);
    }
    this.owner.onStreamClosed(this);
    this.afterStreamsClosed();
  }

  private onWindowUpdate(sid: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new H2Error('ERR_H2_FRAME_SIZE', 'WINDOW_UPDATE not 4 octets');
    const inc = buf.readUInt32BE(start) & 0x7fff_ffff;
    if (sid === 0) {
      if (inc === 0) throw protocol('WINDOW_UPDATE of 0 on the connection');
      this.connSendWindow += inc;
      if (this.connSendWindow > F.MAX_WINDOW) throw new H2Error('ERR_H2_FLOW_CONTROL', 'connection window over 2^31-1');
      this.resumeBlocked();
      return;
    }
    this.checkKnown(sid, 'WINDOW_UPDATE');
    const st = this.streams.get(sid);
    if (st === undefined) return;
    if (inc === 0) return this.malformed(st, 'WINDOW_UPDATE of 0');
    st.sendWindow += inc;
    if (st.sendWindow > F.MAX_WINDOW) {
      this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', 'stream window over 2^31-1'), H2_FLOW_CONTROL_ERROR, false);
      return;
    }
    if (st.blocked) this.resumeBlocked();
  }

  // ---- closing -------------------------------------------------------------------------

  /** §5.4.1: GOAWAY with the error's code, then close; every open stream fails. */
  private connectionError(err: H2Error): void {
    if (this.closed) return;
    // The pool logs the failure once, as a warning; this adds the protocol detail.
    this.opts.log.debug({ code: err.code, err: err.message }, 'HTTP/2 connection error');
    this.sendGoaway(err.h2Code, err.message);
    this.teardown(err);
  }

  /** Graceful end: the socket is ended after the queued frames. */
  private end(err: Error | undefined): void {
    if (this.closed) return;
    this.flush();
    this.teardown(err, true);
  }

  private teardown(err: Error | undefined, graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    // A peer closing its side after its own GOAWAY, with nothing left open, is a normal end.
    const normal = this.goawayReceived && this.streams.size === 0 && err instanceof H2Error && err.code === 'ERR_H2_CONNECTION';
    const why = err ?? new H2Error('ERR_H2_CONNECTION', 'connection closed');
    for (const st of this.streams.values()) {
      this.abort(st, new UpstreamError('ERR_UPSTREAM_UNPROCESSED', `connection lost before the response: ${why.message}`, { cause: why }), -1, true, false);
    }
    this.streams.clear();
    this.active = 0;
    this.blocked = [];
    if (graceful) {
      this.flush();
      this.socket.end();
      // A peer that never closes its side does not keep the socket forever.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else if (err instanceof H2Error && err.code !== 'ERR_H2_CONNECTION') {
      // Our GOAWAY is queued on the socket: end after it rather than cut it off.
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else this.socket.destroy();
    for (const w of this.closeWaiters) w();
    this.closeWaiters = [];
    this.owner.onClose(this, normal ? undefined : err);
  }
}


function protocol(message: string): H2Error {
  return new H2Error('ERR_H2_PROTOCOL', message);
}

