/**
 * A bare loop for profiling the parser (`node --cpu-prof .hN/bench/sip/profile-parse.js [ms]`):
 * parses the three sip-parse messages and reads the five values the benchmark reads, for a
 * bounded time, then prints ns per message. Not a benchmark suite (no peers, no ratios).
 */
import { parseMessage } from '../../core/sip/index.js';
import { MESSAGES } from './messages.js';

const ms = Number(process.argv[2] ?? 3000);
const only = process.argv[3];
const bufs = MESSAGES.filter(([n]) => only === undefined || n.includes(only)).map(([, b]) => b);
let sink: unknown;
let calls = 0;
const t0 = process.hrtime.bigint();
const deadline = t0 + BigInt(ms) * 1_000_000n;
while (process.hrtime.bigint() < deadline) {
  for (let k = 0; k < 1000; k++) {
    for (const buf of bufs) {
      const m = parseMessage(buf);
      sink = [m.callId, m.cseq.seq, m.topVia?.branch, m.from.tag, m.to.tag];
      calls++;
    }
  }
}
const ns = Number(process.hrtime.bigint() - t0) / calls;
console.log(`${calls} parses, ${ns.toFixed(0)} ns each`, sink === undefined ? '' : '');
