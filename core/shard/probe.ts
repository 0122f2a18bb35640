/**
 * Health probing of the shards with SIP OPTIONS over UDP (RFC 3261 §11: any final response,
 * even 404 or 405, proves the process is alive and parsing SIP). A backend that misses
 * `failures` probes in a row goes out of the ring (only its keys move); one that answers
 * `successes` in a row comes back (and gets exactly those keys back: see ring.ts).
 *
 * The prober owns no socket: the caller gives it `send` and feeds it every response whose
 * top Via branch starts with PROBE_BRANCH_PREFIX, so the bridge (and later sipis) can probe
 * from the very socket the backends already trust.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Backend, ShardRing } from './ring.js';

export const PROBE_BRANCH_PREFIX = 'z9hG4bKprobe.';

export interface ProbeOptions {
  /** time between probes of one backend; a probe unanswered by the next one counts as failed. */
  intervalMs: number;
  failures: number;
  successes: number;
  /** `host:port` written in Via and From: where the backends send their answers. */
  localHostport: string;
  /** transport token for the Via; 'UDP'. */
  send(backend: Backend, bytes: Buffer): void;
}

interface ProbeState {
  backend: Backend;
  /** branch of the probe in flight, or '' when answered. */
  pending: string;
  failures: number;
  successes: number;
  cseq: number;
}

export interface BackendProber {
  on(event: 'down' | 'up', fn: (backend: Backend) => void): this;
}

export class BackendProber extends EventEmitter {
  readonly #ring: ShardRing;
  readonly #opts: ProbeOptions;
  readonly #states: ProbeState[];
  readonly #byBranch = new Map<string, ProbeState>();
  readonly #tag = randomBytes(4).toString('hex');
  #timer: NodeJS.Timeout | undefined;

  constructor(ring: ShardRing, opts: ProbeOptions) {
    super();
    this.#ring = ring;
    this.#opts = opts;
    this.#states = ring.backends.map((backend) => ({ backend, pending: '', failures: 0, successes: 0, cseq: 0 }));
  }

  start(): void {
    if (this.#timer) return;
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One round: count unanswered probes as failures, then send the next probe to each backend. */
  tick(): void {
    for (const s of this.#states) {
      if (s.pending) {
        this.#byBranch.delete(s.pending);
        s.pending = '';
        s.successes = 0;
        s.failures++;
        if (s.failures >= this.#opts.failures && this.#ring.setUp(s.backend.id, false)) this.emit('down', s.backend);
      }
      s.cseq++;
      const branch = `${PROBE_BRANCH_PREFIX}${this.#tag}.${s.cseq.toString(36)}.${randomBytes(3).toString('hex')}`;
      s.pending = branch;
      this.#byBranch.set(branch, s);
      this.#opts.send(s.backend, this.#request(s, branch));
    }
  }

  /** Feeds a response's top-Via branch; returns true when it answered one of our probes. */
  handleResponse(branch: string): boolean {
    const s = this.#byBranch.get(branch);
    if (!s) return branch.startsWith(PROBE_BRANCH_PREFIX); // a late answer: ours, but stale
    this.#byBranch.delete(branch);
    s.pending = '';
    s.failures = 0;
    s.successes++;
    if (s.successes >= this.#opts.successes && this.#ring.setUp(s.backend.id, true)) this.emit('up', s.backend);
    return true;
  }

  #request(s: ProbeState, branch: string): Buffer {
    const b = s.backend;
    const target = b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
    const local = this.#opts.localHostport;
    return Buffer.from(
      `OPTIONS sip:${target} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP ${local};branch=${branch};rport\r\n` +
        'Max-Forwards: 70\r\n' +
        `From: <sip:sipis-probe@${local}>;tag=${this.#tag}\r\n` +
        `To: <sip:${target}>\r\n` +
        `Call-ID: probe-${this.#tag}-${b.seed.toString(36)}@${local}\r\n` +
        `CSeq: ${s.cseq} OPTIONS\r\n` +
        'Accept: application/sdp\r\n' +
        'Content-Length: 0\r\n\r\n',
    );
  }
}
