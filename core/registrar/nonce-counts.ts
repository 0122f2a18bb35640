/**
 * Replayed digest answers (RFC 7616 §3.4.5 / RFC 2617 §3.2.2: the server "SHOULD" check that the
 * nonce count grows). Our nonces are stateless (an HMAC with a timestamp, valid for their TTL on
 * every shard), so without this an answer captured on the wire could be sent again as long as
 * its nonce lives. Digest covers the method and the Request-URI but no header: a replayed
 * REGISTER could carry another Contact and take the phone's calls; a replayed INVITE could call
 * the same number again at the account's expense.
 *
 * Per nonce and username, the highest nc accepted so far; an answer whose nc is not above it is
 * refused (the caller answers 401/407 with `stale=true`, so an honest client simply takes a new
 * nonce). The username is part of the key because a device with several lines (an ATA, a PBX
 * registering trunks) may answer for all of them with the nonce one of them was given. A
 * phone always talks to the same shard (the bridge hashes its user; a UDP phone has one
 * address), so this per-process memory is enough. Bounded: entries go when their nonce has
 * expired, and at `maxNonces` the oldest goes first.
 */
export class NonceCounts {
  private readonly seen = new Map<string, { nc: number; expiresAt: number }>();

  constructor(
    /** how long a nonce verifies (the digest server's TTL), ms. */
    private readonly ttlMs: number,
    private readonly maxNonces = 200_000,
  ) {}

  /**
   * true when `nc` is above every nc accepted before for `nonce` under `username` (and records
   * it). An answer without qop has no nc: its nonce is then good once.
   */
  fresh(username: string, nonce: string, nc: number | undefined, issuedAt: number, now: number): boolean {
    const n = nc ?? 1;
    const key = `${username}\n${nonce}`;
    const e = this.seen.get(key);
    if (e) {
      if (n <= e.nc) return false;
      e.nc = n;
      return true;
    }
    this.sweep(now);
    this.seen.set(key, { nc: n, expiresAt: issuedAt + this.ttlMs });
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Drops expired nonces from the front (insertion order is about issue order), then the oldest when full. */
  private sweep(now: number): void {
    for (const [k, e] of this.seen) {
      if (e.expiresAt > now && this.seen.size < this.maxNonces) break;
      this.seen.delete(k);
    }
  }
}
