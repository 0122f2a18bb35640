/**
 * OAuth2 access tokens for FCM HTTP v1 from a service account: an RS256 JWT assertion
 * (RFC 7523 §2.1, scope firebase.messaging, aud = token_uri) exchanged at token_uri with
 * grant_type urn:ietf:params:oauth:grant-type:jwt-bearer. The token is cached until shortly
 * before it expires, and concurrent callers share one refresh (single flight): a burst of
 * pushes after expiry costs one token request, not thousands.
 */
import type { Logger } from 'pino';
import { MediatorError, UpstreamError } from './errors.js';
import type { H2Pool } from './h2pool.js';
import { signJwt } from './jwt.js';
import type { ServiceAccount } from './registry.js';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Refresh this long before the token's stated expiry. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

export class AccessTokenSource {
  private token = '';
  private expiresAt = 0;
  private inflight: Promise<string> | undefined;
  private readonly path: string;
  private readonly authority: string;

  constructor(
    private readonly sa: ServiceAccount,
    private readonly pool: H2Pool,
    private readonly log: Logger,
    private readonly timeoutMs = 10_000,
    private readonly onMint?: () => void,
  ) {
    const u = new URL(sa.tokenUri);
    this.path = u.pathname + u.search;
    this.authority = u.host;
  }

  /**
   * A valid access token, fetched if the cached one is missing or about to expire. The caller
   * waits at most `waitMs` (its push's time left) even though the shared fetch may take longer:
   * a push is answered by its deadline, and the fetch goes on for the pushes after it.
   */
  get(waitMs = this.timeoutMs): Promise<string> {
    if (this.token && Date.now() < this.expiresAt - EXPIRY_MARGIN_MS) return Promise.resolve(this.token);
    const fetching = this.refresh();
    return waitMs >= this.timeoutMs ? fetching : waitAtMost(fetching, Math.max(1, waitMs));
  }

  /** Drops `used` (the server said 401 for it) unless another caller already replaced it. */
  invalidate(used: string): void {
    if (used === this.token) {
      this.token = '';
      this.expiresAt = 0;
    }
  }

  private refresh(): Promise<string> {
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchToken(): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    const assertion = signJwt(
      'RS256',
      {},
      { iss: this.sa.clientEmail, scope: FCM_SCOPE, aud: this.sa.tokenUri, iat, exp: iat + 3600 },
      this.sa.privateKey,
    );
    const body = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString();
    const res = await this.pool.request(
      {
        ':method': 'POST',
        ':path': this.path,
        ':authority': this.authority,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
      this.timeoutMs,
    );
    let j: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
    try {
      j = JSON.parse(res.body.toString('utf8')) as typeof j;
    } catch {
      // handled below
    }
    if (res.status !== 200 || typeof j.access_token !== 'string') {
      const why = typeof j.error === 'string' ? `${j.error}${typeof j.error_description === 'string' ? `: ${j.error_description}` : ''}` : `HTTP ${res.status}`;
      this.log.warn({ status: res.status, error: j.error }, 'OAuth2 token request refused');
      throw new MediatorError('ERR_FCM_TOKEN', `token endpoint refused the assertion (${why})`);
    }
    const ttlSec = typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 3600;
    this.token = j.access_token;
    this.expiresAt = Date.now() + ttlSec * 1000;
    this.onMint?.();
    this.log.debug({ expiresInSec: ttlSec }, 'OAuth2 access token obtained');
    return this.token;
  }
}

/** `p`, or an ERR_UPSTREAM_TIMEOUT after `ms` if it has not settled by then. */
function waitAtMost<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new UpstreamError('ERR_UPSTREAM_TIMEOUT', `no OAuth2 access token within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}
