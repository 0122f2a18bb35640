import test from 'ava';
import { buildAuthorization, DigestServer } from '../sip/digest.js';
import type { AuthChallenge } from '../sip/types.js';
import { fastAuthorization } from './digest-fast.js';

const ch = (params: Record<string, string>): AuthChallenge => ({ scheme: 'Digest', params: new Map(Object.entries({ realm: 'example.com', ...params })) });
const req = (nc: number, over: Partial<{ username: string; password: string; uri: string }> = {}) => ({ method: 'REGISTER', uri: 'sip:example.com', username: 'alice', password: 'secret', nc, cnonce: '0123456789abcdef01234567', ...over });

const cases: Array<[string, Record<string, string>]> = [
  ['MD5 qop=auth', { algorithm: 'MD5', qop: 'auth' }],
  ['md5 lowercase, opaque', { algorithm: 'md5', qop: 'auth', opaque: 'o"p\\q' }],
  ['MD5-sess', { algorithm: 'MD5-sess', qop: 'auth' }],
  ['SHA-256', { algorithm: 'SHA-256', qop: 'auth,auth-int' }],
  ['SHA-512-256', { algorithm: 'SHA-512-256', qop: 'auth' }],
  ['no algorithm named', { qop: 'auth' }],
  ['no qop (RFC 2069)', { algorithm: 'MD5' }],
  ['auth-int only', { algorithm: 'MD5', qop: 'auth-int' }],
];

for (const [name, params] of cases) {
  test(`the same text as buildAuthorization: ${name}`, (t) => {
    const base = ch(params);
    const nonce = 'n0nce-"x"';
    for (const nc of [1, 2, 255]) {
      const challenge: AuthChallenge = { scheme: 'Digest', params: new Map([...base.params, ['nonce', nonce]]) };
      t.is(fastAuthorization(base, nonce, req(nc)), buildAuthorization({ challenge, ...req(nc) }));
    }
  });
}

test('a registrar verifies it, with fresh random cnonces each time', (t) => {
  const server = new DigestServer({ secret: 'digest-fast-test-secret-0123456789', algorithms: ['SHA-256'] });
  const header = server.buildChallenge({ realm: 'example.com', algorithm: 'SHA-256' });
  const params = new Map<string, string>();
  for (const m of header.matchAll(/(\w+)=("((?:[^"\\]|\\.)*)"|[^,\s]+)/g)) params.set(m[1]!, m[3] ?? m[2]!);
  const nonce = params.get('nonce')!;
  params.delete('nonce');
  const base: AuthChallenge = { scheme: 'Digest', params };
  const cnonces = new Set<string>();
  for (let nc = 1; nc <= 3; nc++) {
    const value = fastAuthorization(base, nonce, { method: 'REGISTER', uri: 'sip:example.com', username: 'alice', password: 'secret', nc });
    const creds = new Map<string, string>();
    for (const m of value.matchAll(/(\w+)=("((?:[^"\\]|\\.)*)"|[^,\s]+)/g)) creds.set(m[1]!, m[3] ?? m[2]!);
    cnonces.add(creds.get('cnonce')!);
    const v = server.verifyCredentials({ credentials: { scheme: 'Digest', params: creds }, method: 'REGISTER', realm: 'example.com', password: 'secret', requestUri: 'sip:example.com' });
    t.true(v.ok, JSON.stringify(v));
  }
  t.is(cnonces.size, 3);
});

test('a challenge we cannot answer throws a typed error', (t) => {
  t.throws(() => fastAuthorization(ch({ algorithm: 'SHA-1' }), 'n', req(1)), { code: 'ERR_DIGEST_UNSUPPORTED_ALGORITHM' } as never);
  t.throws(() => fastAuthorization(ch({ algorithm: 'MD5', qop: 'auth-conf' }), 'n', req(1)), { code: 'ERR_DIGEST_UNSUPPORTED_QOP' } as never);
});
