import test from 'ava';
import { parseUri } from '../sip/index.js';
import { SipResolver, orderSrv } from './resolver.js';
import { DnsServer, type DnsRecord } from './testing/dns-server.js';
import { UdpTransport } from './udp.js';
import { TransactionLayer } from '../transaction/index.js';
import { testRequest } from '../transaction/testing/messages.js';

const RECORDS: DnsRecord[] = [
  { type: 'NAPTR', name: 'provider.test', order: 10, preference: 10, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.provider.test' },
  { type: 'NAPTR', name: 'provider.test', order: 20, preference: 10, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.provider.test' },
  { type: 'SRV', name: '_sip._udp.provider.test', priority: 20, weight: 0, port: 5080, target: 'b.provider.test' },
  { type: 'SRV', name: '_sip._udp.provider.test', priority: 10, weight: 0, port: 5070, target: 'a.provider.test' },
  { type: 'A', name: 'a.provider.test', address: '127.0.0.11', ttl: 30 },
  { type: 'A', name: 'b.provider.test', address: '127.0.0.12', ttl: 30 },
  { type: 'AAAA', name: 'b.provider.test', address: '::1' },
  { type: 'SRV', name: '_sip._udp.srvonly.test', priority: 1, weight: 1, port: 5090, target: 'a.provider.test' },
  { type: 'A', name: 'plain.test', address: '127.0.0.13', ttl: 2 },
];

async function setup(t: { teardown(fn: () => unknown): void }, records = RECORDS) {
  const dns = await DnsServer.start(records);
  t.teardown(() => dns.close());
  let now = 1_000_000;
  const resolver = new SipResolver({ servers: [dns.address], now: () => now, timeoutMs: 500, tries: 1 });
  return { dns, resolver, advance: (ms: number) => (now += ms) };
}

test('NAPTR (SIP+D2U) → SRV by priority → A/AAAA (RFC 3263 §4.1, §4.2)', async (t) => {
  const { resolver, dns } = await setup(t);
  const targets = await resolver.resolve(parseUri('sip:alice@provider.test'));
  t.deepEqual(targets, [
    { address: '127.0.0.11', port: 5070 },
    { address: '127.0.0.12', port: 5080 },
    { address: '::1', port: 5080 },
  ]);
  t.true(dns.queries.includes('SRV _sip._udp.provider.test'));
  t.false(dns.queries.some((q) => q.includes('_tcp')), 'the TCP NAPTR is not followed');
});

test('no NAPTR: _sip._udp SRV; neither: A on 5060; explicit port: A only; IP literal: no DNS', async (t) => {
  const { resolver, dns } = await setup(t);
  t.deepEqual(await resolver.resolve(parseUri('sip:srvonly.test')), [{ address: '127.0.0.11', port: 5090 }]);
  t.deepEqual(await resolver.resolve(parseUri('sip:plain.test')), [{ address: '127.0.0.13', port: 5060 }]);
  dns.queries.length = 0;
  t.deepEqual(await resolver.resolve(parseUri('sip:a.provider.test:5099')), [{ address: '127.0.0.11', port: 5099 }]);
  t.deepEqual(dns.queries.filter((q) => q.startsWith('NAPTR') || q.startsWith('SRV')), []);
  dns.queries.length = 0;
  t.deepEqual(await resolver.resolve(parseUri('sip:x@[::1]:5070')), [{ address: '::1', port: 5070 }]);
  t.deepEqual(await resolver.resolve(parseUri('sip:x@127.0.0.1')), [{ address: '127.0.0.1', port: 5060 }]);
  t.deepEqual(dns.queries, []);
});

test('answers are cached by TTL (A records: their own TTL), failures too', async (t) => {
  const { resolver, dns, advance } = await setup(t);
  await resolver.resolve(parseUri('sip:plain.test'));
  const n = dns.queries.length;
  await resolver.resolve(parseUri('sip:plain.test'));
  t.is(dns.queries.length, n, 'second lookup from cache');
  advance(2_500); // plain.test's A has TTL 2 s
  await resolver.resolve(parseUri('sip:plain.test'));
  t.is(dns.queries.filter((q) => q === 'A plain.test').length, 2);
  await t.throwsAsync(resolver.resolve(parseUri('sip:nowhere.test')), { code: 'ERR_TRANSPORT_RESOLVE' } as never);
  const m = dns.queries.length;
  await t.throwsAsync(resolver.resolve(parseUri('sip:nowhere.test')));
  t.is(dns.queries.length, m, 'NXDOMAIN cached');
});

test('tcp/tls/sips targets fail with ERR_TRANSPORT_UNSUPPORTED (the bridge owns streams)', async (t) => {
  const { resolver } = await setup(t);
  for (const u of ['sip:a@127.0.0.1;transport=tcp', 'sips:a@127.0.0.1', 'sip:a@provider.test;transport=tls', 'tel:+123']) {
    await t.throwsAsync(resolver.resolve(parseUri(u)), { code: 'ERR_TRANSPORT_UNSUPPORTED' } as never, u);
  }
});

test('SRV order: priority first, weighted random within a priority (RFC 2782)', (t) => {
  const recs = [
    { priority: 2, weight: 0, n: 'c' },
    { priority: 1, weight: 10, n: 'a' },
    { priority: 1, weight: 90, n: 'b' },
  ];
  t.deepEqual(orderSrv(recs, () => 0.5).map((r) => r.n), ['b', 'a', 'c']);
  t.deepEqual(orderSrv(recs, () => 0.05).map((r) => r.n), ['a', 'b', 'c']);
});

test('the transaction layer fails over to the next SRV target when the first times out', async (t) => {
  const uas = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
  const uac = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
  const dead = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] }); // bound, never answers
  t.teardown(async () => {
    await Promise.all([uas.close(), uac.close(), dead.close()]);
  });
  const { resolver } = await setup(t, [
    { type: 'SRV', name: '_sip._udp.svc.test', priority: 1, weight: 0, port: dead.endpoints[0]!.port, target: 'h.svc.test' },
    { type: 'SRV', name: '_sip._udp.svc.test', priority: 2, weight: 0, port: uas.endpoints[0]!.port, target: 'h.svc.test' },
    { type: 'A', name: 'h.svc.test', address: '127.0.0.1' },
  ]);
  const server = new TransactionLayer(uas, { timers: { T1: 20 } });
  server.onRequest((tx) => tx.reply(200));
  const client = new TransactionLayer(uac, { timers: { T1: 20 }, resolver });
  t.teardown(() => {
    server.close();
    client.close();
  });
  const status = await new Promise<number>((resolve) => {
    client.sendRequest(testRequest({ method: 'OPTIONS', uri: 'sip:svc.test' }), { onResponse: (r) => resolve(r.status), onError: (e) => resolve(e.status) });
  });
  t.is(status, 200);
  t.true(dead.counters.datagramsIn > 1, 'the first target got the request (and its retransmissions)');
  // a tcp target is refused up front, as a transport error (503)
  const err = await new Promise<number>((resolve) => {
    client.sendRequest(testRequest({ method: 'OPTIONS', uri: 'sip:svc.test;transport=tcp' }), { onResponse: () => resolve(0), onError: (e) => resolve(e.status) });
  });
  t.is(err, 503);
});
