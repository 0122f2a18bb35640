import test from 'ava';
import { createSocket } from 'node:dgram';
import pino from 'pino';
import { repoRoot } from '../../fixtures/paths.js';
import { startProc } from '../../fixtures/proc.js';
import { startTestRegistrar } from '../../fixtures/registrar.js';
import { startLocalStack } from './stack.js';

test('the local stack: embedded PostgreSQL, an account added with sipis-ctl gets registered, OPTIONS answered', async (t) => {
  const stack = await startLocalStack({ adminPort: 0, sipPort: 0, log: pino({ level: 'silent' }), env: {}, print: false });
  const reg = await startTestRegistrar({ passwordFor: (u) => (u === 'kim' ? 'kim-pw' : undefined) });
  try {
    t.regex(stack.banner, /sipis-ctl account add/);
    t.regex(stack.banner, /SIPIS_SECRET_KEY_FILE=/);
    const base = `http://127.0.0.1:${stack.sipis.adminAddress!.port}`;
    t.is(((await (await fetch(`${base}/status`)).json()) as { total: number }).total, 0);
    // exactly what the banner tells a newcomer to do, with the CLI
    const ctl = startProc(
      process.execPath,
      [`${repoRoot}/dist/tools/sipis-ctl.js`, 'account', 'add', 'sip:kim@sipis.test', '--password-stdin', '--registrar', reg.uri, '--expires', '60'],
      { env: { ...process.env, SIPIS_DB_URL: stack.databaseUrl, SIPIS_SECRET_KEY_FILE: stack.keyFile, SIPIS_SECRET_KEY: '' } },
    );
    ctl.child.stdin!.end('kim-pw\n');
    t.is(await ctl.exited, 0, ctl.output());
    const end = Date.now() + 8000;
    while (reg.bindings('kim').length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const ep = stack.sipis.transport.endpoints[0]!;
    const kim = await stack.sipis.store.accounts.getByAor('sip:kim@sipis.test');
    t.deepEqual(
      reg.bindings('kim').map((b) => b.contact),
      [`sip:acc-${kim!.id}@127.0.0.1:${ep.port}`],
    );
    // a provider's OPTIONS keep-alive to our Contact is answered 200
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const answer = new Promise<string>((r) => sock.once('message', (m) => r(m.toString())));
    sock.send(
      `OPTIONS sip:acc-1@127.0.0.1:${ep.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKopt1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:acc-1@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      ep.port,
      '127.0.0.1',
    );
    t.regex(await answer, /^SIP\/2\.0 200 /);
    sock.close();
  } finally {
    await reg.close();
    await stack.stop();
  }
});
