import test from 'ava';
import { createSocket } from 'node:dgram';
import pino from 'pino';
import { startLocalStack } from './stack.js';

test('the local stack starts sipis on an embedded PostgreSQL and prints how to add an account', async (t) => {
  const stack = await startLocalStack({ adminPort: 0, sipPort: 0, log: pino({ level: 'silent' }), env: {}, print: false });
  try {
    t.regex(stack.banner, /sipis-ctl account add/);
    t.regex(stack.banner, /SIPIS_SECRET_KEY_FILE=/);
    const status = (await (await fetch(`http://127.0.0.1:${stack.sipis.adminAddress!.port}/status`)).json()) as { total: number };
    t.is(status.total, 0);
    // an account added through the store is picked up (LISTEN/NOTIFY) by the running engine
    const a = await stack.sipis.store.accounts.add({ aor: 'sip:zed@127.0.0.1', password: 'pw', registrar: 'sip:127.0.0.1:9', expires: 60 });
    const end = Date.now() + 5000;
    while (!stack.sipis.engine.get(String(a.id)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    t.truthy(stack.sipis.engine.get(String(a.id)));
    // a provider's OPTIONS keep-alive to our Contact is answered 200
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const answer = new Promise<string>((r) => sock.once('message', (m) => r(m.toString())));
    const ep = stack.sipis.transport.endpoints[0]!;
    sock.send(
      `OPTIONS sip:acc-${a.id}@127.0.0.1:${ep.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKopt1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:acc-${a.id}@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      ep.port,
      '127.0.0.1',
    );
    t.regex(await answer, /^SIP\/2\.0 200 /);
    sock.close();
  } finally {
    await stack.stop();
  }
});
