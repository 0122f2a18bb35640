/**
 * Digest costs on the registrar's path: every device REGISTER is verified (nonce MAC check +
 * response), every upstream REGISTER is signed. Peer: the `sip` package's digest.js
 * (`calculateHA1` + `calculateDigest`, MD5 only, no nonce check), measured in the same run.
 */
import { createRequire } from 'node:module';
import { runMicro, withRatios, type BenchOptions, type BenchRow, type BenchSuite } from '../lib.js';
import { buildAuthorization, computeResponse, DigestServer, lookupAlgorithm, storedHa1 } from '../../core/sip/digest.js';
import type { AuthChallenge, AuthCredentials } from '../../core/sip/types.js';

interface SipJsDigest {
  calculateHA1(ctx: { user: string; realm: string; password: string }): string;
  calculateDigest(ctx: Record<string, string>): string;
}
const sipJs = createRequire(import.meta.url)('sip/digest.js') as SipJsDigest;

const realm = 'sipis.example.net';
const method = 'REGISTER';
const uri = 'sip:sipis.example.net';
const username = 'alice';
const password = 'correct horse battery staple';

function credentialsFor(server: DigestServer, algorithm: 'MD5' | 'SHA-256', now: number): AuthCredentials {
  const nonce = server.createNonce(realm, now);
  const challenge: AuthChallenge = { scheme: 'Digest', params: new Map([['realm', realm], ['nonce', nonce], ['algorithm', algorithm], ['qop', 'auth']]) };
  const value = buildAuthorization({ challenge, method, uri, username, password, nc: 1, cnonce: '0a4f113b' });
  // the shape the parser yields: unquoted values
  const params = new Map<string, string>();
  for (const m of value.slice(7).matchAll(/([a-z]+)=(?:"([^"]*)"|([^,\s]+))/g)) params.set(m[1], m[2] ?? m[3]);
  return { scheme: 'Digest', params };
}

const suite: BenchSuite = {
  name: 'sip/digest',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const now = Date.now();
    const server = new DigestServer({ secret: 'bench secret, sixteen bytes or more' });
    const md5 = credentialsFor(server, 'MD5', now);
    const sha = credentialsFor(server, 'SHA-256', now);
    const ha1 = { MD5: storedHa1('MD5', username, realm, password), 'SHA-256': storedHa1('SHA-256', username, realm, password) };
    const md5Alg = lookupAlgorithm('MD5');
    if (md5Alg === undefined) throw new Error('MD5 missing');
    const nonce = md5.params.get('nonce') as string;
    const challenge: AuthChallenge = { scheme: 'Digest', params: new Map([['realm', realm], ['nonce', nonce], ['qop', 'auth'], ['algorithm', 'SHA-256']]) };
    for (const c of [md5, sha]) {
      const r = server.verifyCredentials({ credentials: c, method, realm, password, now });
      if (!r.ok) throw new Error(`bench setup: verification failed (${r.reason})`);
    }
    const batch = opts.quick ? 20 : 100;
    const rows = await runMicro(
      'sip/digest',
      [
        {
          name: 'sip.js HA1+response MD5',
          batch,
          fn: () =>
            sipJs.calculateDigest({
              ha1: sipJs.calculateHA1({ user: username, realm, password }),
              method,
              nonce,
              nc: '00000001',
              cnonce: '0a4f113b',
              qop: 'auth',
              uri,
            }),
        },
        {
          name: 'sipis HA1+response MD5',
          batch,
          fn: () => computeResponse({ algorithm: md5Alg, ha1: storedHa1('MD5', username, realm, password), nonce, nc: '00000001', cnonce: '0a4f113b', qop: 'auth', method, uri }),
        },
        { name: 'verify MD5 (password)', batch, fn: () => server.verifyCredentials({ credentials: md5, method, realm, password, now }) },
        { name: 'verify MD5 (stored HA1)', batch, fn: () => server.verifyCredentials({ credentials: md5, method, realm, ha1, now }) },
        { name: 'verify SHA-256 (password)', batch, fn: () => server.verifyCredentials({ credentials: sha, method, realm, password, now }) },
        { name: 'createNonce', batch, fn: () => server.createNonce(realm, now) },
        { name: 'buildAuthorization SHA-256', batch, fn: () => buildAuthorization({ challenge, method, uri, username, password, nc: 1, cnonce: '0a4f113b' }) },
      ],
      opts,
    );
    return withRatios(rows, 'sip.js HA1+response MD5');
  },
};

export default suite;
