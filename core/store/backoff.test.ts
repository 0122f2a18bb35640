import test from 'ava';
import { Backoff } from './backoff.js';

test('delays grow exponentially with jitter, stay under the cap, and reset', (t) => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000 });
  const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
  for (const c of ceilings) {
    const d = b.next();
    t.true(d >= c * 0.1 - 1 && d <= c, `delay ${d} within [${c * 0.1}, ${c}]`);
  }
  b.reset();
  t.true(b.next() <= 100);
  // jitter: many first delays are not all equal
  const spread = new Set(Array.from({ length: 50 }, () => new Backoff({ initialMs: 1000 }).next()));
  t.true(spread.size > 10);
});
