import test from 'ava';
import { backoffDelay, DEFAULT_BACKOFF, jittered, retryAfterDelay, seededRandom } from './backoff.js';
import { accountIdFromUser, contactUserFor, formatContact } from './contact.js';
import { DueHeap, type HeapItem } from './due-heap.js';
import { TokenBucket } from './pacer.js';

test('backoff doubles from the base to the cap, within ± jitter', (t) => {
  const rnd = seededRandom(1);
  const cfg = DEFAULT_BACKOFF;
  for (let f = 1; f <= 12; f++) {
    const raw = Math.min(cfg.baseMs * 2 ** (f - 1), cfg.maxMs);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(f, cfg, rnd);
      t.true(d >= raw * 0.8 - 1 && d <= raw * 1.2 + 1, `failure ${f}: ${d} vs ${raw}`);
    }
  }
  t.is(backoffDelay(1, { ...cfg, jitter: 0 }, rnd), 30_000);
  t.is(backoffDelay(100, { ...cfg, jitter: 0 }, rnd), 30 * 60_000);
  t.is(jittered(1000, 0, rnd), 1000);
});

test('jitter spreads delays (not all equal)', (t) => {
  const rnd = seededRandom(7);
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) seen.add(backoffDelay(3, DEFAULT_BACKOFF, rnd));
  t.true(seen.size > 50);
});

test('Retry-After is honoured: never sooner, at most 10 % later, bounded only by 24 h', (t) => {
  const rnd = seededRandom(3);
  for (let i = 0; i < 100; i++) {
    const d = retryAfterDelay(120, DEFAULT_BACKOFF, rnd);
    t.true(d >= 120_000 && d <= 132_000);
  }
  t.is(retryAfterDelay(0, { ...DEFAULT_BACKOFF }, () => 0), 1000);
});

test('a Retry-After longer than the backoff cap is not cut short (RFC 3261 §21.5.4)', (t) => {
  const rnd = seededRandom(4);
  // two hours: longer than the 30 min cap of the exponential backoff
  for (let i = 0; i < 100; i++) {
    const d = retryAfterDelay(7200, DEFAULT_BACKOFF, rnd);
    t.true(d >= 7_200_000 && d <= 7_920_000, `delay ${d}`);
  }
  // a nonsensical value is bounded, and the jitter still only adds
  const huge = retryAfterDelay(4_294_967_295, DEFAULT_BACKOFF, () => 0);
  t.is(huge, DEFAULT_BACKOFF.retryAfterMaxMs);
  t.true(retryAfterDelay(4_294_967_295, DEFAULT_BACKOFF, () => 0.999) <= DEFAULT_BACKOFF.retryAfterMaxMs * 1.1);
});

test('contact user carries the account key and maps back, escaping what a SIP user part cannot hold', (t) => {
  t.is(contactUserFor('42'), 'acc-42');
  t.is(accountIdFromUser('acc-42'), '42');
  const odd = 'alice@example.com:5060 ü';
  const u = contactUserFor(odd);
  t.regex(u, /^acc-[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$/);
  t.is(accountIdFromUser(u), odd);
  t.is(accountIdFromUser('bob'), undefined);
  t.is(accountIdFromUser('acc-'), undefined);
  t.is(accountIdFromUser(undefined), undefined);
  t.is(accountIdFromUser('acc-%zz'), undefined);
  t.is(formatContact('acc-1', '127.0.0.1', 5060, 60), '<sip:acc-1@127.0.0.1:5060>;expires=60');
});

interface Item extends HeapItem {
  id: number;
}
const item = (id: number): Item => ({ id, dueAt: 0, heapIndex: -1 });

test('due heap pops in due order and supports cancel and reschedule', (t) => {
  const heap = new DueHeap<Item>();
  const rnd = seededRandom(11);
  const items = Array.from({ length: 2000 }, (_, i) => item(i));
  for (const it of items) heap.schedule(it, Math.floor(rnd() * 1e6));
  // move some, cancel some
  for (let i = 0; i < 2000; i += 7) heap.schedule(items[i]!, Math.floor(rnd() * 1e6));
  const cancelled = new Set<number>();
  for (let i = 3; i < 2000; i += 11) {
    t.true(heap.cancel(items[i]!));
    cancelled.add(i);
  }
  t.false(heap.cancel(items[3]!));
  t.is(heap.size, 2000 - cancelled.size);
  let last = -1;
  let n = 0;
  for (let it = heap.popDue(Infinity); it; it = heap.popDue(Infinity)) {
    t.true(it.dueAt >= last);
    t.false(cancelled.has(it.id));
    t.is(it.heapIndex, -1);
    last = it.dueAt;
    n++;
  }
  t.is(n, 2000 - cancelled.size);
});

test('due heap popDue only returns items that are due', (t) => {
  const heap = new DueHeap<Item>();
  heap.schedule(item(1), 100);
  heap.schedule(item(2), 50);
  t.is(heap.popDue(10), undefined);
  t.is(heap.popDue(60)?.id, 2);
  t.is(heap.popDue(60), undefined);
  t.is(heap.peek()?.id, 1);
});

test('token bucket: burst, then the configured rate', (t) => {
  const b = new TokenBucket(200, 20, 0);
  let taken = 0;
  while (b.tryTake(0)) taken++;
  t.is(taken, 20);
  t.is(b.waitMs(0), 5);
  // one simulated second at 1 ms steps gives 200 more
  taken = 0;
  for (let ms = 1; ms <= 1000; ms++) while (b.tryTake(ms)) taken++;
  t.is(taken, 200);
  t.throws(() => new TokenBucket(0, 1, 0), { instanceOf: RangeError });
  t.throws(() => new TokenBucket(1, 0, 0), { instanceOf: RangeError });
});
