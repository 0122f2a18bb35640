import test from 'ava';
import type { UpstreamEngine } from '../upstream/engine.js';
import type { UpstreamAccount } from '../upstream/types.js';
import { AccountIndex } from './accounts.js';

const acc = (id: string, aor: string, enabled = true): UpstreamAccount => ({ id, aor, authUser: 'u', password: 'p', registrar: 'sip:provider.example', enabled });

/** an engine holding these accounts (removeWhenDone: being unregistered). */
function engineOf(list: Array<UpstreamAccount & { removeWhenDone?: boolean }>): Pick<UpstreamEngine, 'get'> {
  const m = new Map(list.map((a) => [a.id, { account: a, removeWhenDone: a.removeWhenDone ?? false }]));
  return { get: (id: string) => m.get(id) } as unknown as Pick<UpstreamEngine, 'get'>;
}

test('by id from the engine; by AOR (host case-insensitive, user case-sensitive); the AOR user at our own host when unique', (t) => {
  const alice = acc('1', 'sip:alice@provider.example');
  const bob1 = acc('2', 'sip:bob@provider.example');
  const bob2 = acc('3', 'sip:bob@other.example');
  const gone = { ...acc('4', 'sip:carol@provider.example'), removeWhenDone: true };
  const index = new AccountIndex(engineOf([alice, bob1, bob2, gone]), new Set(['sipis.test', '127.0.0.1']));
  for (const a of [alice, bob1, bob2, gone]) index.put(a);
  t.is(index.size, 4);
  t.is(index.get('1'), alice);
  t.is(index.get('4'), undefined, 'an account being unregistered is not served');
  t.is(index.get('99'), undefined);
  t.is(index.findByUser('alice', 'PROVIDER.example'), alice);
  t.is(index.findByUser('Alice', 'provider.example'), undefined);
  t.is(index.findByUser('alice', 'sipis.test'), alice, 'the AOR user at the sipis domain');
  t.is(index.findByUser('alice', '127.0.0.1'), alice);
  t.is(index.findByUser('bob', 'other.example'), bob2);
  t.is(index.findByUser('bob', 'sipis.test'), undefined, 'two accounts share the user: the phone must write its AOR');
  t.is(index.findByUser('alice', 'elsewhere.example'), undefined);
});

test('follows changes: a new AOR, a disabled account, a removal, a resync', (t) => {
  const alice = acc('1', 'sip:alice@provider.example');
  const moved = acc('1', 'sip:alice@new.example');
  const engine = engineOf([moved]);
  const index = new AccountIndex(engine, new Set(['sipis.test']));
  index.put(alice);
  index.put(moved);
  t.is(index.findByUser('alice', 'provider.example'), undefined, 'the old AOR is forgotten');
  t.is(index.findByUser('alice', 'new.example'), moved);
  index.put({ ...moved, enabled: false });
  t.is(index.findByUser('alice', 'new.example'), undefined);
  t.is(index.size, 0);
  index.put(moved);
  index.remove('1');
  t.is(index.findByUser('alice', 'sipis.test'), undefined);
  index.put(moved);
  index.put(acc('2', 'sip:zed@new.example'));
  index.replaceAll([acc('2', 'sip:zed@new.example')]);
  t.is(index.size, 1);
  t.is(index.findByUser('alice', 'new.example'), undefined);
  index.put(acc('5', 'not a uri'));
  t.is(index.size, 1, 'an AOR that does not parse is not indexed');
});
