import test from 'ava';
import { isIP } from 'node:net';
import type { SipUri } from '../sip/types.js';
import type { Endpoint } from '../transport/index.js';
import type { UpstreamAccount } from '../upstream/types.js';
import { ProviderSources, parseCidr } from './provider-sources.js';

const acc = (id: string, registrar: string, outboundProxy?: string): UpstreamAccount => ({ id, aor: `sip:u${id}@provider.example`, authUser: 'u', password: 'p', registrar, enabled: true, ...(outboundProxy ? { outboundProxy } : {}) });
const src = (address: string): Endpoint => ({ address, port: 5060 });

/** a resolver answering from a table; a missing name fails. */
function resolverOf(table: Map<string, string[]>) {
  const calls: string[] = [];
  return {
    calls,
    async resolve(uri: SipUri): Promise<Endpoint[]> {
      calls.push(uri.host);
      // like SipResolver: an IP literal is used as it is (RFC 3263 §4.2)
      if (isIP(uri.host)) return [{ address: uri.host, port: uri.port ?? 5060 }];
      const list = table.get(uri.host);
      if (!list) throw new Error(`no address for ${uri.host}`);
      return list.map((address) => ({ address, port: 5060 }));
    },
  };
}

test('CIDR parsing', (t) => {
  t.truthy(parseCidr('10.0.0.0/8'));
  t.truthy(parseCidr('2001:db8::/32'));
  t.truthy(parseCidr('::ffff:192.0.2.1'));
  t.is(parseCidr('10.0.0.0/33'), undefined);
  t.is(parseCidr('provider.example'), undefined);
});

test('an account\'s provider is its outbound proxy, else its registrar, resolved; other sources are refused', async (t) => {
  const table = new Map([
    ['provider.example', ['192.0.2.10', '192.0.2.11']],
    ['edge.example', ['2001:db8::5']],
  ]);
  const resolver = resolverOf(table);
  const p = new ProviderSources({ resolver });
  t.teardown(() => p.close());
  const a = acc('1', 'sip:provider.example');
  const b = acc('2', 'sip:provider.example', 'sip:edge.example;lr');
  const c = acc('3', 'sip:198.51.100.7:5070');
  p.replaceAll([a, b, c]);
  await p.ready();
  t.deepEqual(resolver.calls.sort(), ['198.51.100.7', 'edge.example', 'provider.example'], 'one lookup per distinct provider');
  t.true(p.isProviderSource(src('192.0.2.11'), a));
  t.true(p.isProviderSource(src('::ffff:192.0.2.10'), a), 'an IPv4-mapped source is the IPv4 address');
  t.false(p.isProviderSource(src('192.0.2.10'), b), 'b\'s provider is its outbound proxy');
  t.true(p.isProviderSource(src('2001:DB8::5'), b));
  t.true(p.isProviderSource(src('198.51.100.7'), c));
  t.false(p.isProviderSource(src('203.0.113.1'), a));
  t.is(p.refused, 2);
  t.deepEqual(p.stats, { providers: 3, resolved: 3 });
});

test('extra addresses and CIDRs; a failed refresh keeps the old addresses; a new address after a refresh', async (t) => {
  const table = new Map([['provider.example', ['192.0.2.10']]]);
  const p = new ProviderSources({ resolver: resolverOf(table), extra: ['203.0.113.0/24', '2001:db8:1::/48'] });
  t.teardown(() => p.close());
  const a = acc('1', 'sip:provider.example');
  p.track(a);
  await p.ready();
  t.true(p.isProviderSource(src('203.0.113.200'), a));
  t.true(p.isProviderSource(src('2001:db8:1:ffff::1'), a));
  t.false(p.isProviderSource(src('2001:db8:2::1'), a));
  table.delete('provider.example');
  await p.refresh();
  t.true(p.isProviderSource(src('192.0.2.10'), a), 'a DNS failure does not lock the provider out');
  t.is(p.resolveErrors, 1);
  table.set('provider.example', ['192.0.2.99']);
  await p.refresh();
  t.true(p.isProviderSource(src('192.0.2.99'), a));
  t.false(p.isProviderSource(src('192.0.2.10'), a));
  p.untrack('1');
  t.deepEqual(p.stats, { providers: 0, resolved: 0 });
});

test('a provider that never resolved: its requests are refused (until it does)', async (t) => {
  const p = new ProviderSources({ resolver: resolverOf(new Map()) });
  t.teardown(() => p.close());
  const a = acc('1', 'sip:unknown.example');
  p.track(a);
  await p.ready();
  t.false(p.isProviderSource(src('192.0.2.10'), a));
  t.deepEqual(p.stats, { providers: 1, resolved: 0 });
});
