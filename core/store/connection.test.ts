import test from 'ava';
import { redactUrl, toSqlText, withConnOptions } from './connection.js';

test('libpq options are added to URLs and key=value strings, never overriding the user', (t) => {
  const u = withConnOptions('postgresql://u:p@db:5432/sipis', 5, 'sipis');
  t.regex(u, /^postgresql:\/\/u:p@db:5432\/sipis\?/);
  const q = new URLSearchParams(u.slice(u.indexOf('?') + 1));
  t.is(q.get('connect_timeout'), '5');
  t.is(q.get('keepalives'), '1');
  t.is(q.get('application_name'), 'sipis');
  const mine = withConnOptions('postgres://db/x?connect_timeout=30&sslmode=require', 5, 'sipis');
  const q2 = new URLSearchParams(mine.slice(mine.indexOf('?') + 1));
  t.is(q2.get('connect_timeout'), '30');
  t.is(q2.get('sslmode'), 'require');
  const kv = withConnOptions('host=/tmp dbname=x connect_timeout=9', 5, 'ctl');
  t.regex(kv, /connect_timeout=9/);
  t.notRegex(kv, /connect_timeout=5/);
  t.regex(kv, /application_name=ctl/);
});

test('passwords are redacted from connection strings', (t) => {
  t.is(redactUrl('postgresql://sipis:s3cr3t@db/x'), 'postgresql://sipis:***@db/x');
  t.is(redactUrl('host=db password=s3cr3t dbname=x'), 'host=db password=*** dbname=x');
  t.is(redactUrl('postgresql://db/x'), 'postgresql://db/x');
});

test('parameters become libpq text: bytea hex, ISO dates, JSON objects, NULL for undefined', (t) => {
  t.is(toSqlText(Buffer.from([0, 255])), '\\x00ff');
  t.is(toSqlText(new Date(0)), '1970-01-01T00:00:00.000Z');
  t.is(toSqlText({ a: 1 }), '{"a":1}');
  t.is(toSqlText(undefined), null);
  t.is(toSqlText(null), null);
  t.is(toSqlText(false), 'false');
  t.is(toSqlText(12n), '12');
});
