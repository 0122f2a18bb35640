import test from 'ava';
import { SipStackError } from './errors.js';

test('SipStackError keeps a stable code, its subclass name and the cause', (t) => {
  class LayerError extends SipStackError {}
  const cause = new Error('socket closed');
  const err = new LayerError('ERR_TX_TRANSPORT', 'send failed', { cause });
  t.is(err.code, 'ERR_TX_TRANSPORT');
  t.is(err.name, 'LayerError');
  t.is(err.cause, cause);
  t.true(err instanceof SipStackError);
});
