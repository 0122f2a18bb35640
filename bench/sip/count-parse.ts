/**
 * A fixed amount of the sip-parse work for instruction counting under callgrind, where timing
 * on this shared VM swings ~30% but instruction counts do not:
 *
 *   node .hN/bench/sip/count-parse.js <task> <n>     (task: invite-sdp | register-auth |
 *                                                      200-invite | mixed (the three in turn) |
 *                                                      respond | floor-respond |
 *                                                      floor-<message>)
 *
 * Every run warms up with the same 5,000 calls, then makes n more; run it under
 * `valgrind --tool=callgrind` with two values of n and divide the difference of the totals by
 * the difference of n: instructions per call, without node's start-up and the warm-up.
 * bench/sip/callgrind.sh does exactly that.
 */
import { createResponse, parseMessage, serializeMessage } from '../../core/sip/index.js';
import { INVITE, MESSAGES } from './messages.js';

const task = process.argv[2] ?? 'invite-sdp';
const n = Number(process.argv[3] ?? 1000);
const WARM = 5_000;

function pick(name: string): Buffer {
  const found = MESSAGES.find(([k]) => k === name);
  if (found === undefined) throw new Error(`unknown message ${name}`);
  return found[1];
}

let fn: () => unknown;
if (task === 'respond') {
  const req = parseMessage(INVITE);
  fn = () => serializeMessage(createResponse(req, 200, undefined, { toTag: 'b5a8c3' }));
} else if (task === 'floor-respond') {
  // the respond row's floor: the encode of the response's text (bench/sip/parse.bench.ts)
  const text = serializeMessage(createResponse(parseMessage(INVITE), 200, undefined, { toTag: 'b5a8c3' })).toString('latin1');
  fn = () => Buffer.from(text, 'latin1');
} else if (task === 'mixed') {
  // the three messages in turn, as the benchmark's process sees them (polymorphic feedback)
  const bufs = MESSAGES.map(([, b]) => b);
  let k = 0;
  fn = () => {
    const m = parseMessage(bufs[k++ % 3]!);
    return [m.callId, m.cseq.seq, m.topVia?.branch, m.from.tag, m.to.tag];
  };
} else if (task.startsWith('floor-')) {
  const buf = pick(task.slice(6));
  fn = () => buf.toString('latin1');
} else {
  const buf = pick(task);
  fn = () => {
    const m = parseMessage(buf);
    return [m.callId, m.cseq.seq, m.topVia?.branch, m.from.tag, m.to.tag];
  };
}

let sink: unknown;
for (let i = 0; i < WARM; i++) sink = fn();
for (let i = 0; i < n; i++) sink = fn();
if (sink === Symbol.for('never')) console.log(sink);
