/**
 * Compact JWS (RFC 7515) signing for the two provider credentials we hold:
 * ES256 for APNs provider tokens and RS256 for Google's OAuth2 JWT-bearer assertions
 * (RFC 7523). JOSE wants the raw r||s ECDSA signature (RFC 7518 §3.4), not DER, hence
 * `dsaEncoding: 'ieee-p1363'`.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export type JwsAlg = 'ES256' | 'RS256';

export function base64url(data: Buffer | string): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url');
}

export function signJwt(alg: JwsAlg, header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const input = `${base64url(JSON.stringify({ alg, typ: 'JWT', ...header }))}.${base64url(JSON.stringify(claims))}`;
  const sig =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), key);
  return `${input}.${base64url(sig)}`;
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/**
 * Verifies a compact JWS against a public key; returns the decoded parts or a reason.
 * Used by the mock push services, and kept here so both sides share one definition.
 */
export function verifyJwt(token: string, alg: JwsAlg, key: KeyObject | string): DecodedJwt | { error: string } {
  const parts = token.split('.');
  if (parts.length !== 3) return { error: 'not a compact JWS' };
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { error: 'undecodable header or claims' };
  }
  if (header.alg !== alg) return { error: `alg ${String(header.alg)} is not ${alg}` };
  const pub = typeof key === 'string' ? createPublicKey(key) : key;
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2]!, 'base64url');
  const ok =
    alg === 'ES256'
      ? sig.length === 64 && verify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)
      : verify('sha256', data, pub, sig);
  return ok ? { header, claims } : { error: 'bad signature' };
}
