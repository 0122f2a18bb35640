import test from 'ava';
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
  } finally {
    await stack.stop();
  }
});
