/**
 * H3's sip-replay against our UAS: the recorded sipp call (fixtures/pcap/call-udp.pcapng: two
 * calls of INVITE/100/180/200/ACK/BYE/200) played against the test UA on our stack must get the
 * recorded answers (exit 0); a UA that answers 486 instead must not (exit 1).
 */
import test from 'ava';
import { main as sipReplay } from '../../tools/sip-replay.js';
import { fixturePath } from '../../fixtures/paths.js';
import { TestUa } from '../../fixtures/ua.js';

const pcap = fixturePath('pcap', 'call-udp.pcapng');

async function replayAgainst(mode: 'answer' | 'busy'): Promise<{ code: number; ua: TestUa }> {
  // sipp's uas answers 100 at once; so must we for the replay to match (timers.trying = 0)
  const ua = await TestUa.listen('127.0.0.1', 0, { mode, timers: { trying: 0 } });
  const out = process.stdout.write;
  try {
    process.stdout.write = (() => true) as typeof process.stdout.write; // keep the diff out of ava's output
    const code = await sipReplay(['--pcap', pcap, '--target', `127.0.0.1:${ua.endpoint.port}`, '--pace', 'fast', '--timeout', '3000']);
    return { code, ua };
  } finally {
    process.stdout.write = out;
    await ua.close();
  }
}

test.serial('a recorded sipp call replayed against our UAS gets the recorded answers (exit 0)', async (t) => {
  const { code, ua } = await replayAgainst('answer');
  t.is(code, 0);
  t.is(ua.stats.byes, 2);
});

test.serial('the same replay against a UAS that answers 486 fails (exit 1)', async (t) => {
  const { code } = await replayAgainst('busy');
  t.is(code, 1);
});
