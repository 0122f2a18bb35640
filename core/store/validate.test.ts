import test from 'ava';
import { StoreError } from './errors.js';
import { arrayLiteral } from './sql-array.js';
import { normalizeServerUri, parseAor, shardKeyOf } from './validate.js';

test('AORs: scheme and host lower-cased, user kept, junk refused', (t) => {
  t.deepEqual(parseAor(' SIP:Alice@Example.COM '), { aor: 'sip:Alice@example.com', user: 'Alice', host: 'example.com' });
  t.is(parseAor('sips:+4912345@[2001:DB8::1]:5061').aor, 'sips:+4912345@[2001:db8::1]:5061');
  for (const bad of ['alice@example.com', 'sip:example.com', 'sip:a b@example.com', 'tel:+123', 'sip:a@b;transport=tcp', 'sip:a@b:99999', 'http://x@y']) {
    const err = t.throws(() => parseAor(bad), { instanceOf: StoreError });
    t.is(err.code, 'STORE_INVALID');
  }
});

test('registrar URIs: host, port and parameters', (t) => {
  t.is(normalizeServerUri('SIP:Registrar.Example.com:5080;transport=tcp', 'registrar'), 'sip:Registrar.Example.com:5080;transport=tcp');
  t.is(normalizeServerUri('sips:[::1]', 'registrar'), 'sips:[::1]');
  t.throws(() => normalizeServerUri('registrar.example.com', 'registrar'), { instanceOf: StoreError });
});

test('shard key: user@host without scheme, password, port or params; host lower-cased', (t) => {
  t.is(shardKeyOf('sip:Alice@Example.com:5060'), 'Alice@example.com');
  t.is(shardKeyOf('sips:bob@[::1]:5061;x=y'), 'bob@[::1]');
  t.is(shardKeyOf('sip:carol:pw@Example.com'), 'carol@example.com');
  t.is(shardKeyOf('sip:Example.com'), 'example.com');
});

test('array literals quote and escape every element', (t) => {
  t.is(arrayLiteral(['a', 'b"c', 'd\\e', null, undefined]), '{"a","b\\"c","d\\\\e",NULL,NULL}');
  t.is(arrayLiteral([1, 2.5, NaN]), '{1,2.5,NULL}');
  t.is(arrayLiteral([true, false]), '{t,f}');
  t.is(arrayLiteral([new Date(0)]), '{"1970-01-01T00:00:00.000Z"}');
  t.is(arrayLiteral([]), '{}');
});
