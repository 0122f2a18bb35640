/**
 * One direction of a TCP connection put back in order by sequence number (RFC 9293 3.4),
 * the simple way a capture reader can afford: segments before the expected sequence number are
 * retransmissions (their new tail, if any, is kept), segments after it wait until the hole fills.
 * A hole never filled (a segment the capture missed) stops the stream there; it is counted.
 */

export interface TcpStats {
  tcpSegments: number;
  tcpRetransmitted: number;
  tcpOutOfOrder: number;
  /** out-of-order bytes dropped because too many were waiting. */
  tcpDropped: number;
}

const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** signed distance a - b in 32-bit sequence space */
const seqDiff = (a: number, b: number): number => (a - b) | 0;

export class TcpStream {
  private next: number | undefined;
  private readonly waiting = new Map<number, Buffer>();
  private waitingBytes = 0;
  constructor(readonly stats: TcpStats) {}

  /** bytes held out of order when the capture ended. */
  get gapBytes(): number {
    return this.waitingBytes;
  }

  /** Returns the bytes that became contiguous with this segment (possibly none). */
  push(seq: number, syn: boolean, payload: Buffer): Buffer[] {
    this.stats.tcpSegments++;
    if (syn) {
      // the SYN consumes one sequence number (RFC 9293 3.4)
      seq = (seq + 1) >>> 0;
      this.next = seq;
    }
    if (payload.length === 0) return [];
    if (this.next === undefined) this.next = seq; // capture started mid-connection
    const out: Buffer[] = [];
    this.accept(seq, payload, out, true);
    // drain segments that the new bytes made contiguous
    for (let progressed = true; progressed && this.waiting.size > 0; ) {
      progressed = false;
      for (const [s, data] of this.waiting) {
        if (seqDiff(s, this.next!) <= 0) {
          this.waiting.delete(s);
          this.waitingBytes -= data.length;
          this.accept(s, data, out, false);
          progressed = true;
        }
      }
    }
    return out;
  }

  private accept(seq: number, payload: Buffer, out: Buffer[], fresh: boolean): void {
    const d = seqDiff(seq, this.next!);
    if (d > 0) {
      if (!fresh) return;
      this.stats.tcpOutOfOrder++;
      const prev = this.waiting.get(seq);
      if (prev && prev.length >= payload.length) return;
      if (this.waitingBytes + payload.length > MAX_PENDING_BYTES) {
        this.stats.tcpDropped += payload.length;
        return;
      }
      if (prev) this.waitingBytes -= prev.length;
      this.waiting.set(seq, payload);
      this.waitingBytes += payload.length;
      return;
    }
    if (d + payload.length <= 0) {
      if (fresh) this.stats.tcpRetransmitted++;
      return;
    }
    const fresh_ = payload.subarray(-d);
    out.push(fresh_);
    this.next = (this.next! + fresh_.length) >>> 0;
  }
}
