/**
 * Device REGISTERs per second through the registrar (digest verified, binding upserted into a
 * real throw-away PostgreSQL, 200 with every binding), driven over the in-memory transport with
 * a window of requests in flight. Rows, measured in the same run:
 *   - challenge only (401, no database): the SIP + digest floor;
 *   - first registration (account looked up and password opened, binding inserted);
 *   - refresh (account cached, binding updated): the steady state of a phone fleet.
 * Nonces are minted with the registrar's own secret (stateless nonces), so each registration
 * is one authenticated transaction, as a phone that already holds a nonce sends it.
 *
 *   npm run bench -- registrar            (full: 5000 accounts)
 *   npm run bench -- --quick registrar    (CI: 300 accounts)
 */
import { randomBytes } from 'node:crypto';
import { startPostgres } from '../../fixtures/postgres.js';
import { DeviceRegistrar } from '../../core/registrar/index.js';
import { buildAuthorization, DigestServer } from '../../core/sip/digest.js';
import { parseMessage, type SipMessage } from '../../core/sip/index.js';
import { RegistrarBindingStore } from '../../core/store/bindings-registrar.js';
import { formatKeyEntry, generateKey, parseKeyring, Store, type BindingInput, type PushTokenInput } from '../../core/store/index.js';
import { TransactionLayer } from '../../core/transaction/index.js';
import { MemoryNetwork } from '../../core/transport/index.js';
import type { BenchOptions, BenchRow, BenchSuite } from '../lib.js';

const DOMAIN = 'sipis.bench';
const SECRET = randomBytes(32).toString('hex');
const WINDOW = 64;

function row(name: string, ns: number, n: number, extra: Record<string, number | string> = {}): BenchRow {
  const per = ns / n;
  return { suite: 'registrar', name, medianNs: per, opsPerSec: 1e9 / per, samples: 1, extra: { n, totalMs: Math.round(ns / 1e6), ...extra } };
}

const suite: BenchSuite = {
  name: 'registrar',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const N = opts.quick ? 300 : 5000;
    const pg = await startPostgres();
    const store = await Store.open({ url: pg.url, keyring: parseKeyring(formatKeyEntry('k1', generateKey())), listen: false, size: 4 });
    const net = new MemoryNetwork(0);
    const server = net.transport('127.0.0.1', 5060);
    const client = net.transport('127.0.0.1', 5070);
    const layer = new TransactionLayer(server);
    const registrar = new DeviceRegistrar({ store, domain: DOMAIN, digestSecret: SECRET, algorithms: ['MD5'], sweepIntervalMs: 3_600_000 });
    const rows: BenchRow[] = [];
    try {
      await store.accounts.addMany(Array.from({ length: N }, (_, i) => ({ aor: `sip:u${i}@provider.bench`, password: `pw-${i}` })));
      await registrar.start();
      layer.onRequest((tx, req) => void registrar.handleRegister(tx, req));
      const waiting = new Map<string, (m: SipMessage) => void>();
      client.onMessage((m) => {
        const w = waiting.get(m.via[0]!.branch!);
        if (w && m.status >= 200) {
          waiting.delete(m.via[0]!.branch!);
          w(m);
        }
      });
      const digest = new DigestServer({ secret: SECRET });
      const challenge = parseMessage(
        Buffer.from(`SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: ${digest.buildChallenge({ realm: DOMAIN })}\r\nContent-Length: 0\r\n\r\n`),
      ).wwwAuthenticate[0]!;
      let seq = 0;
      const register = (i: number, cseq: number, withAuth: boolean): Promise<SipMessage> => {
        const branch = `z9hG4bK${(++seq).toString(36)}`;
        const auth = withAuth ? `Authorization: ${buildAuthorization({ challenge, method: 'REGISTER', uri: `sip:${DOMAIN}`, username: `u${i}`, password: `pw-${i}`, nc: cseq })}\r\n` : '';
        const msg =
          `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=${branch};rport\r\nMax-Forwards: 70\r\n` +
          `From: <sip:u${i}@provider.bench>;tag=t${i}\r\nTo: <sip:u${i}@provider.bench>\r\nCall-ID: reg-${i}@bench\r\nCSeq: ${cseq} REGISTER\r\n` +
          `Contact: <sip:u${i}@10.0.${i >> 8 & 255}.${i & 255};pn-provider=apns;pn-prid=${i.toString(16).padStart(64, '0')};pn-param=ABCD123456.com.example.phone.voip>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}>"\r\n` +
          `Expires: 3600\r\n${auth}Content-Length: 0\r\n\r\n`;
        return new Promise((resolve) => {
          waiting.set(branch, resolve);
          client.send(Buffer.from(msg), { address: '127.0.0.1', port: 5060 });
        });
      };
      const drive = async (cseq: number, withAuth: boolean, expect: number): Promise<number> => {
        let next = 0;
        let bad = 0;
        const t0 = process.hrtime.bigint();
        await Promise.all(
          Array.from({ length: WINDOW }, async () => {
            while (next < N) {
              const r = await register(next++, cseq, withAuth);
              if (r.status !== expect) bad++;
            }
          }),
        );
        const ns = Number(process.hrtime.bigint() - t0);
        if (bad) throw new Error(`${bad} REGISTERs did not get ${expect}`);
        return ns;
      };
      await drive(1, false, 401); // warm-up (JIT, first allocations): not reported
      const c = await drive(1, false, 401);
      const first = await drive(2, true, 200);
      const refresh = await drive(3, true, 200);
      rows.push(row('REGISTER refresh (digest, cached account, binding updated)', refresh, N, { window: WINDOW }));
      rows.push(row('REGISTER first (digest, account + password read, binding inserted)', first, N, { window: WINDOW }));
      rows.push(row('REGISTER challenge only (401, no database)', c, N, { window: WINDOW }));
      const base = rows[2]!;
      for (const r of rows) {
        r.baseline = base.name;
        r.ratio = r.medianNs / base.medianNs;
      }
      if (registrar.size !== N) throw new Error(`expected ${N} bindings, have ${registrar.size}`);

      // A/B of the binding write itself: one statement (what the registrar uses) vs the same
      // upsert as a transaction of one statement per step, same rows, same concurrency.
      const db = new RegistrarBindingStore(store.pool);
      const input = (i: number): BindingInput & { pushTokens: PushTokenInput[] } => ({
        accountId: i + 1,
        instanceId: `ab-${i}`,
        contact: `sip:u${i}@10.9.0.1`,
        source: 'udp:10.9.0.1:5060',
        flowToken: null,
        expiresAt: new Date(Date.now() + 3600_000),
        pushTokens: [
          { kind: 'voip', provider: 'apns', appId: 'com.example.phone', token: `v${i}`, pnParam: 'ABCD123456.com.example.phone.voip&remote' },
          { kind: 'remote', provider: 'apns', appId: 'com.example.phone', token: `r${i}`, pnParam: 'ABCD123456.com.example.phone.voip&remote' },
        ],
      });
      const writes = async (fn: (b: BindingInput & { pushTokens: PushTokenInput[] }) => Promise<unknown>): Promise<number> => {
        let next = 0;
        const t0 = process.hrtime.bigint();
        await Promise.all(Array.from({ length: 8 }, async () => {
          while (next < N) await fn(input(next++));
        }));
        return Number(process.hrtime.bigint() - t0);
      };
      const exact = await writes((b) => db.upsertExact(b));
      const one = await writes((b) => db.upsertOne(b));
      const slow = 'binding write: transaction, one statement per step';
      rows.push(row('binding write: one statement (CTE)', one, N, { baselineNs: Math.round(exact / N) }));
      rows.push(row(slow, exact, N));
      rows.at(-2)!.baseline = slow;
      rows.at(-2)!.ratio = one / exact;
      rows.at(-1)!.baseline = slow;
      rows.at(-1)!.ratio = 1;
    } finally {
      registrar.close();
      layer.close();
      await server.close();
      await client.close();
      await store.close();
      await pg.stop();
    }
    return rows;
  },
};

export default suite;
