import test from 'ava';
import { parseListen, shardPredicate } from './app.js';
import { loadConfig } from './config.js';
import { ServerError } from './errors.js';

test('shard config: each account key is owned by exactly one of the shards', (t) => {
  const backends = '10.0.0.1:5060;id=a,10.0.0.2:5060;id=b,10.0.0.3:5060;id=c';
  const owns = ['a', 'b', 'c'].map((self) => shardPredicate(loadConfig(['--shard-backends', backends, '--shard-self', self], {})));
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) {
    const key = `user${i}@example.com`;
    const owners = owns.map((f) => f(key));
    t.is(owners.filter(Boolean).length, 1);
    counts[owners.indexOf(true)]!++;
  }
  for (const c of counts) t.true(c > 700, `spread: ${counts.join(' ')}`);
});

test('no shard config: this process owns everything; bad shard config names the field', (t) => {
  t.true(shardPredicate(loadConfig([], {}))('anyone@example.com'));
  const e = t.throws(() => shardPredicate(loadConfig(['--shard-backends', '10.0.0.1:5060;id=a', '--shard-self', 'zz'], {})), { instanceOf: ServerError });
  t.is(e?.field, 'shard.self');
  const e2 = t.throws(() => shardPredicate(loadConfig(['--shard-backends', '10.0.0.1:99999', '--shard-self', 'x'], {})), { instanceOf: ServerError });
  t.is(e2?.field, 'shard.backends');
});

test('a wildcard listen address advertises a real address (the Contact must be reachable)', (t) => {
  t.deepEqual(parseListen('127.0.0.1:5060', undefined), { host: '127.0.0.1', port: 5060 });
  t.deepEqual(parseListen('[::1]:5070', undefined), { host: '::1', port: 5070 });
  t.is(parseListen('0.0.0.0:5060', 'sipis.example.com').advertise, 'sipis.example.com');
  const w = parseListen('0.0.0.0:5060', undefined);
  t.not(w.advertise, '0.0.0.0');
});
