import test from 'ava';
import { FlowTable } from './flow.js';

test('flow tokens are unique and cannot be guessed from another one (RFC 5626 §5.2); sipis\'s X-Sipis-Flow pattern still matches them', (t) => {
  const table = new FlowTable();
  const ids = Array.from({ length: 1000 }, () => table.newId());
  t.is(new Set(ids).size, ids.length);
  for (const id of ids) t.regex(id, /^[0-9a-z]+x[0-9a-z]+$/);
  // knowing a token and the counter scheme is not enough to name the next flow
  const [first, second] = ids as [string, string];
  const [, tail] = first.split('x') as [string, string];
  t.not(second, `2x${tail}`);
  t.not(second.slice(-10), first.slice(-10));
});
