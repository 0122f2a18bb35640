/**
 * Compact JWS (RFC 7515) signing for the two provider credentials we hold:
 * ES256 for APNs provider tokens and RS256 for Google's OAuth2 JWT-bearer assertions
 * (RFC 7523). JOSE wants the raw r||s ECDSA signature (RFC 7518 §3.4), not DER, hence
 * `dsaEncoding: 'ieee-p1363'`.
 */
import { sign, type KeyObject } from 'node:crypto';

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
