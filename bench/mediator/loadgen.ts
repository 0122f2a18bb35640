/**
 * A lean HTTP/1.1 load generator: keep-alive connections, one request at a time on each (as
 * sipis's push client does; uWebSockets.js closes a connection that pipelines a request
 * behind an unanswered asynchronous one), only the status line and Content-Length parsed.
 * Node's own http client costs more CPU per request than the mediator does, which would make
 * the benchmark measure the client; this one stays out of the way.
 */
import { connect, type Socket } from 'node:net';

export interface Reply {
  status: number;
  /** nanoseconds from write to the end of the response. */
  latencyNs: number;
}

interface Waiter {
  t0: bigint;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

class Conn {
  readonly pending: Waiter[] = [];
  private head = 0;
  private buf: Buffer = Buffer.alloc(0);
  constructor(readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    const fail = (e: Error) => {
      const w = this.pending.splice(this.head);
      this.head = 0;
      this.pending.length = 0;
      for (const x of w) x.reject(e);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }
  get outstanding(): number {
    return this.pending.length - this.head;
  }
  send(req: Buffer): Promise<Reply> {
    // A connection the server closed (uWS drops idle ones after 10 s) fails fast, not silently.
    if (this.sock.destroyed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ t0: process.hrtime.bigint(), resolve, reject });
      this.sock.write(req);
    });
  }
  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end);
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (this.buf.length < end + 4 + len) return;
      const status = Number(head.slice(9, 12));
      this.buf = this.buf.subarray(end + 4 + len);
      const w = this.pending[this.head++];
      if (this.head > 4096) {
        this.pending.splice(0, this.head);
        this.head = 0;
      }
      w?.resolve({ status, latencyNs: Number(process.hrtime.bigint() - w.t0) });
    }
  }
}

export class HttpLoad {
  private conns: Conn[] = [];
  private idle: Conn[] = [];
  private readonly waiting: Array<{ req: Buffer; resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly connections: number,
  ) {}

  async open(): Promise<void> {
    this.conns = await Promise.all(
      Array.from(
        { length: this.connections },
        () =>
          new Promise<Conn>((resolve, reject) => {
            const s = connect(this.port, this.host, () => resolve(new Conn(s)));
            s.once('error', reject);
          }),
      ),
    );
    this.idle = [...this.conns];
  }

  /** Sends on an idle connection, or waits for one. */
  send(req: Buffer): Promise<Reply> {
    const c = this.idle.pop();
    if (!c) return new Promise((resolve, reject) => this.waiting.push({ req, resolve, reject }));
    return this.use(c, req);
  }

  private async use(c: Conn, req: Buffer): Promise<Reply> {
    try {
      return await c.send(req);
    } finally {
      const w = this.waiting.shift();
      if (w) this.use(c, w.req).then(w.resolve, w.reject);
      else this.idle.push(c);
    }
  }

  close(): void {
    for (const c of this.conns) c.sock.destroy();
  }
}

/**
 * The closed loop without a promise or closure per request: `window` connections, each sending
 * its next request from the callback of its last answer (the status line and Content-Length
 * read from bytes). The load generator shares two cores with the mediator and the mock: every
 * microsecond it spends is one the mediator's wall rate does not get. Connections are opened
 * by `open()`, before the measured part.
 */
export class ClosedLoad {
  private socks: Socket[] = [];
  private reqs: readonly Buffer[] = [];
  private next = 0;
  private done = 0;
  private failed = 0;
  private t0 = 0n;
  private settle: ((err?: Error) => void) | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly window: number,
    /** Pushes per request (a batch): every answer in it must have `"status":200`. */
    private readonly perRequest = 1,
  ) {}

  async open(): Promise<void> {
    this.socks = await Promise.all(
      Array.from(
        { length: this.window },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect(this.port, this.host, () => resolve(s));
            s.once('error', reject);
          }),
      ),
    );
    for (const s of this.socks) this.wire(s);
  }

  private wire(sock: Socket): void {
    sock.setNoDelay(true);
    let buf: Buffer | undefined;
    sock.on('error', (e) => this.settle?.(e));
    sock.on('close', () => {
      if (this.settle && this.done < this.reqs.length) this.settle(new Error('connection closed by the server'));
    });
    sock.on('data', (d: Buffer) => {
      let b = buf === undefined ? d : Buffer.concat([buf, d]);
      buf = undefined;
      for (;;) {
        const len = responseLength(b);
        if (len < 0 || b.length < len) break;
        // "HTTP/1.1 200": the status is at bytes 9..11.
        if (b[9] !== 0x32 || b[10] !== 0x30 || b[11] !== 0x30) this.failed += this.perRequest;
        else if (this.perRequest > 1) this.failed += count(b, len, STATUS_ANY) - count(b, len, STATUS_200);
        this.done++;
        b = b.subarray(len);
        if (this.next < this.reqs.length) sock.write(this.reqs[this.next++]!);
      }
      if (b.length > 0) buf = b;
      if (this.done === this.reqs.length) this.settle?.();
    });
  }

  /** Sends every request, one in flight per connection; elapsed ns and non-200 answers. */
  run(reqs: readonly Buffer[]): Promise<{ ns: number; failed: number }> {
    this.reqs = reqs;
    this.next = this.done = this.failed = 0;
    return new Promise((resolve, reject) => {
      if (reqs.length === 0) return resolve({ ns: 0, failed: 0 });
      this.settle = (err) => {
        this.settle = undefined;
        if (err) reject(err);
        else resolve({ ns: Number(process.hrtime.bigint() - this.t0), failed: this.failed });
      };
      this.t0 = process.hrtime.bigint();
      for (const s of this.socks) if (this.next < reqs.length) s.write(reqs[this.next++]!);
    });
  }

  close(): void {
    for (const s of this.socks) s.destroy();
  }
}

/** How many times `what` occurs in the response `b[0..len)` (a batch's answers, by status). */
function count(b: Buffer, len: number, what: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(what); i >= 0 && i < len; i = b.indexOf(what, i + 1)) n++;
  return n;
}
const STATUS_ANY = Buffer.from('{"status":');
const STATUS_200 = Buffer.from('{"status":200,');

/** Length of the first complete HTTP/1.1 response in `b` (head + Content-Length), or -1. */
function responseLength(b: Buffer): number {
  const head = b.indexOf(CRLFCRLF);
  if (head < 0) return -1;
  // Content-Length, case-insensitively, from the bytes of the head (uWS writes "Content-Length").
  let i = b.indexOf(CONTENT_LENGTH_UC);
  if (i < 0 || i > head) i = b.indexOf(CONTENT_LENGTH_LC);
  if (i < 0 || i > head) i = b.indexOf(CONTENT_LENGTH_TC);
  let len = 0;
  if (i >= 0 && i < head) {
    let p = i + CONTENT_LENGTH_LC.length;
    while (b[p] === 0x20) p++;
    for (let c = b[p]!; c >= 0x30 && c <= 0x39; c = b[++p]!) len = len * 10 + (c - 0x30);
  }
  return head + 4 + len;
}
const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH_LC = Buffer.from('content-length:');
const CONTENT_LENGTH_UC = Buffer.from('Content-Length:');
const CONTENT_LENGTH_TC = Buffer.from('CONTENT-LENGTH:');

/** What the load generator process (loadgen-child) is asked to do. */
export type LoadCommand =
  | { op: 'closed'; port: number; n: number; offset: number; window: number; /** pushes per POST /v1/push/batch (absent: one per POST /v1/push) */ batch?: number }
  | { op: 'open'; port: number; n: number; offset: number; rate: number; connections: number };

export interface LoadResult {
  ns: number;
  failed: number;
  /** Every latency (ns) of an `open` command. */
  latencies?: number[];
}

/** The device token of push number `i` (every row of the benchmark numbers them alike). */
export function benchToken(i: number): string {
  return (i.toString(16) + 'a'.repeat(64)).slice(0, 64);
}

export function pushRequestBytes(host: string, apiKey: string, body: string, path = '/v1/push'): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`,
    ),
    b,
  ]);
}

/** Runs `total` operations keeping `window` in flight; returns elapsed ns and failures. */
export async function closedLoop(total: number, window: number, op: (i: number) => Promise<boolean>): Promise<{ ns: number; failed: number }> {
  let started = 0;
  let failed = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (started < total) {
      const i = started++;
      if (!(await op(i))) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, total) }, worker));
  return { ns: Number(process.hrtime.bigint() - t0), failed };
}

/** Sends at a fixed rate for `durationMs`; returns every latency (ns) and failures. */
export async function openLoop(ratePerSec: number, durationMs: number, op: (i: number) => Promise<{ ok: boolean; latencyNs: number }>): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  let sent = 0;
  const total = Math.round((ratePerSec * durationMs) / 1000);
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * ratePerSec) / 1000));
      while (sent < due) {
        const i = sent++;
        inflight.push(
          op(i).then(
            (r) => {
              if (r.ok) latencies.push(r.latencyNs);
              else failed++;
            },
            () => {
              failed++;
            },
          ),
        );
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  return { latencies, failed };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
