/**
 * `npm run demo` as a user runs it (tools/demo.js as a child process): exit 0 and the ladder's
 * key lines, each printed from an event seen on sipis's socket or at the mock APNs. Then the
 * failure path in-process: a phone that never wakes makes the demo report the missing steps
 * and sipis's 480 instead of claiming success.
 */
import test from 'ava';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasKamailio } from '../fixtures/kamailio.js';
import { startProc } from '../fixtures/proc.js';
import { hasSipp } from '../fixtures/sipp.js';
import { runDemo } from './demo/story.js';

const demoJs = fileURLToPath(new URL('./demo.js', import.meta.url));
const available = hasSipp() && hasKamailio();
const story = available ? test.serial : test.skip;

story('npm run demo: the whole story, exit 0, the ladder from real events', async (t) => {
  // a private TMPDIR (traversable: PostgreSQL runs as the postgres user): empty again at the end
  const tmp = mkdtempSync(join(tmpdir(), 'sipis-demotest-'));
  chmodSync(tmp, 0o755);
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const proc = startProc(process.execPath, [demoJs], { env: { ...process.env, TMPDIR: tmp } });
  t.teardown(() => proc.stop('SIGKILL'));
  const code = await proc.exited;
  const out = proc.output();
  t.log(out.split('\n').filter((l) => l.startsWith('3.') || /^\s+[+-]\d+ ms/.test(l) || l.startsWith('call ended')).slice(-40).join('\n'));
  t.is(code, 0, out.slice(-4000));
  // in the order they happen
  const lines = [
    /caller → sipis\s+INVITE sip:acc-\d+@127\.0\.0\.1:\d+ .*INVITE from caller → sipis/,
    /caller ← sipis\s+180 .*\[Alerting-Device\]/,
    /push sent to APNs \(mock\) for device [0-9a-f]{8}….*voip push, NotifyIncomingCall/,
    /sipis ← phone\s+REGISTER .*phone wakes: REGISTER/,
    /sipis → phone\s+401 /,
    /sipis → phone\s+200 OK/,
    /sipis → phone\s+INVITE sip:alice@/,
    /sipis ← phone\s+200 OK\s+phone answers 200/,
    /caller ← sipis\s+200 OK\s+caller ← 200/,
    /caller → sipis\s+ACK /,
    /sipis → phone\s+ACK /,
    /caller → sipis\s+BYE /,
    /sipis → phone\s+BYE /,
    /caller ← sipis\s+200 OK\s+call ended on both legs/,
    /call ended, setup took \d+ ms/,
  ];
  let from = out.indexOf('3. the call');
  t.true(from >= 0, 'the call section');
  for (const re of lines) {
    const m = re.exec(out.slice(from));
    t.truthy(m, `${re} after offset ${from}`);
    if (m) from += m.index + m[0].length;
  }
  t.regex(out, /story complete in [\d.]+ s/);
  t.deepEqual(readdirSync(tmp), [], 'the cluster, certificates, sipp logs and Kamailio folder are gone');
});

story('demo failure path: a phone that never wakes → exit status false, the missing steps and the 480 named', async (t) => {
  const lines: string[] = [];
  const r = await runDemo({ wake: false, readinessTimeoutMs: 2000, write: (l) => lines.push(l) });
  t.false(r.ok);
  const text = r.problems.join('\n');
  t.regex(text, /the call failed: caller sipp exited 1/);
  t.regex(text, /not seen: .*the phone woke up and sent REGISTER/);
  t.true(lines.some((l) => /480 .*No-Response-From-Device/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /push sent to APNs \(mock\)/.test(l)), 'the push still went out');
});
