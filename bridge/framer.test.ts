import test from 'ava';
import { StreamFramer } from './framer.js';
import { BridgeError } from './errors.js';

const msg = (body = '', extra = '') =>
  `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

function collect(max = 65536) {
  const out: Buffer[] = [];
  let pings = 0;
  const f = new StreamFramer({ message: (m) => out.push(m), ping: () => pings++ }, max);
  return { f, out, pings: () => pings };
}

test('several messages in one segment come out as views of that segment', (t) => {
  const { f, out } = collect();
  const seg = Buffer.from(msg('abc') + msg() + msg('hello world'));
  f.push(seg);
  t.deepEqual(out.map(String), [msg('abc'), msg(), msg('hello world')]);
  t.is(out[0]!.buffer, seg.buffer, 'no copy');
  t.is(f.pending, 0);
  t.is(f.partialSince, 0);
});

test('a message split at every possible byte boundary, and byte by byte', (t) => {
  const whole = Buffer.from(msg('v=0\r\n', 'l: 5\r\n'.replace('l: 5', 'X-A: b')) + msg('xy'));
  for (let cut = 1; cut < whole.length; cut++) {
    const { f, out } = collect();
    f.push(whole.subarray(0, cut));
    f.push(whole.subarray(cut));
    t.is(Buffer.concat(out).toString(), whole.toString(), `cut at ${cut}`);
  }
  const { f, out } = collect();
  for (let i = 0; i < whole.length; i++) f.push(whole.subarray(i, i + 1));
  t.is(out.length, 2);
  t.is(Buffer.concat(out).toString(), whole.toString());
});

test('compact Content-Length (l) frames the body', (t) => {
  const { f, out } = collect();
  f.push(Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbodyOPTIONS sip:a@b SIP/2.0\r\nl:0\r\n\r\n'));
  t.deepEqual(out.map(String), ['MESSAGE sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody', 'OPTIONS sip:a@b SIP/2.0\r\nl:0\r\n\r\n']);
});

test('RFC 5626 keep-alive: CRLFCRLF is a ping, a lone CRLF is a pong, neither is a message', (t) => {
  const { f, out, pings } = collect();
  f.push(Buffer.from('\r\n\r\n'));
  t.is(pings(), 1);
  f.push(Buffer.from('\r\n'));
  f.push(Buffer.from('\r'));
  f.push(Buffer.from('\n\r\n' + msg()));
  t.is(pings(), 2);
  t.is(out.length, 1);
  f.push(Buffer.from('\r\nSIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'));
  t.is(out.length, 2);
  t.is(pings(), 2);
});

test('broken streams are typed errors', (t) => {
  const code = (input: string | Buffer, max = 65536) => {
    const { f } = collect(max);
    const err = t.throws(() => f.push(Buffer.from(input)), { instanceOf: BridgeError });
    return err?.code;
  };
  t.is(code('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'ERR_FRAME_BAD_START_LINE');
  t.is(code(Buffer.from([0, 1, 2, 3])), 'ERR_FRAME_BAD_START_LINE');
  t.is(code('INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n'), 'ERR_FRAME_MISSING_CONTENT_LENGTH');
  t.is(code('INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n'), 'ERR_FRAME_BAD_CONTENT_LENGTH');
  t.is(code('INVITE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n'), 'ERR_FRAME_BAD_CONTENT_LENGTH');
  t.is(code('INVITE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n', 4096), 'ERR_FRAME_MESSAGE_TOO_LARGE');
  t.is(code('INVITE sip:a@b SIP/2.0\r\nX: ' + 'a'.repeat(5000), 4096), 'ERR_FRAME_HEADERS_TOO_LARGE');
  t.is(code('x'.repeat(2000)), 'ERR_FRAME_BAD_START_LINE');
});

test('a malformed start line that still reads as SIP is framed (the relay answers it), garbage is not', (t) => {
  const lines = ['OPTIONS  sip:a@b  SIP/2.0', 'OPTIONS sip:a@b SIP/2.0  ', 'OPTIONS sip:a@b SIP/7.0', 'INVITE sip:a@b; lr SIP/2.0', 'SIP/2.0 4294967301 better not break the receiver'];
  for (const line of lines) {
    const { f, out } = collect();
    f.push(Buffer.from(`${line}\r\nContent-Length: 0\r\n\r\n`));
    t.is(out.length, 1, line);
  }
  for (const line of ['GET / HTTP/1.1', 'OPTIONS sip:a@b HTTP/1.1', 'SIP/2.0', 'OPTIONS']) {
    const { f } = collect();
    t.throws(() => f.push(Buffer.from(`${line}\r\nContent-Length: 0\r\n\r\n`)), { instanceOf: BridgeError }, line);
  }
});

test('a lone CRLF (a pong, or half a ping) is held but is no partial message: no header timeout runs for it', (t) => {
  const { f, out, pings } = collect();
  f.push(Buffer.from('\r\n'));
  t.is(f.partialSince, 0);
  t.is(f.pending, 2);
  // it was half a ping after all
  f.push(Buffer.from('\r\n'));
  t.is(pings(), 1);
  t.is(f.pending, 0);
  f.push(Buffer.from('\r\n'));
  f.push(Buffer.from(msg('x')));
  t.is(out.length, 1);
  t.is(f.partialSince, 0);
});

test('pipelined messages: the header timeout runs from the start of the one still incomplete', async (t) => {
  const { f, out } = collect();
  const m = msg('body');
  f.push(Buffer.from(m.slice(0, 20)));
  const first = f.partialSince;
  t.true(first > 0);
  await new Promise((r) => setTimeout(r, 20));
  // the end of the first message and the start of the next in one segment
  f.push(Buffer.from(m.slice(20) + m.slice(0, 20)));
  t.is(out.length, 1);
  t.true(f.partialSince > first, 'the clock restarted with the new message');
  f.push(Buffer.from(m.slice(20)));
  t.is(out.length, 2);
  t.is(f.partialSince, 0);
});

test('an incomplete message is pending with a start time; completing it clears it', (t) => {
  const { f, out } = collect();
  const m = msg('body');
  f.push(Buffer.from(m.slice(0, 20)));
  t.true(f.partialSince > 0);
  t.is(f.pending, 20);
  f.push(Buffer.from(m.slice(20)));
  t.is(out.length, 1);
  t.is(f.partialSince, 0);
});
