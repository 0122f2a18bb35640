import test from 'ava';
import { PcapError, readCapture, newCaptureStats, looksLikeSip, LINKTYPE, type SipPacket } from './index.js';
import { bsdLoop, ethernet, ipv4, ipv6, linuxSll, linuxSll2, tcp, udp, writePcap, writePcapng, TCP_ACK, TCP_SYN, TCP_PSH, type TestFrame } from './testing.js';

const A = '192.0.2.1';
const B = '192.0.2.2';
const options = (n: number, body = ''): Buffer =>
  Buffer.from(
    `OPTIONS sip:bob@${B} SIP/2.0\r\nVia: SIP/2.0/UDP ${A}:5060;branch=z9hG4bK${n}\r\nCall-ID: c${n}\r\nCSeq: ${n} OPTIONS\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );

const udpFrame = (ts: number, payload: Buffer, wrap = (ip: Buffer) => ethernet(ip)): TestFrame => ({
  ts,
  data: wrap(ipv4(A, B, 17, udp(5060, 5070, payload))),
});

const all = (file: Buffer, stats = newCaptureStats()): SipPacket[] => [...readCapture(file, { stats })];

test('classic pcap, both byte orders, micro- and nanosecond magic', (t) => {
  const frames = [udpFrame(1700000000.25, options(1)), udpFrame(1700000001.5, options(2))];
  for (const bigEndian of [false, true]) {
    for (const nano of [false, true]) {
      const got = all(writePcap(frames, { bigEndian, nano }));
      t.is(got.length, 2);
      t.deepEqual(got[0]!.payload, options(1));
      t.deepEqual(got[0]!.src, { ip: A, port: 5060 });
      t.deepEqual(got[0]!.dst, { ip: B, port: 5070 });
      t.is(got[0]!.transport, 'udp');
      t.is(got[1]!.ts, 1700000001.5);
    }
  }
});

test('pcapng, both byte orders, timestamp resolutions and simple packet blocks', (t) => {
  const frames = [udpFrame(1700000000.125, options(1)), udpFrame(1700000002.75, options(2))];
  for (const bigEndian of [false, true]) {
    for (const tsresol of [undefined, 9, 0x80 | 20]) {
      const got = all(writePcapng(frames, { bigEndian, tsresol }));
      t.deepEqual(
        got.map((p) => p.payload.toString()),
        [options(1).toString(), options(2).toString()],
      );
      t.is(got[0]!.ts, 1700000000.125, `tsresol ${tsresol}`);
      t.is(got[1]!.ts, 1700000002.75);
    }
    const simple = all(writePcapng(frames, { bigEndian, simple: true }));
    t.is(simple.length, 2);
    t.is(simple[1]!.ts, 0);
    t.deepEqual(simple[1]!.payload, options(2));
  }
});

test('link types: raw IP, Linux cooked v1 and v2, BSD loopback, VLAN-tagged Ethernet', (t) => {
  const ip = ipv4(A, B, 17, udp(5060, 5070, options(7)));
  const cases: Array<[number, Buffer]> = [
    [LINKTYPE.RAW, ip],
    [LINKTYPE.LINUX_SLL, linuxSll(ip)],
    [LINKTYPE.LINUX_SLL2, linuxSll2(ip)],
    [LINKTYPE.NULL, bsdLoop(ip, false)],
    [LINKTYPE.LOOP, bsdLoop(ip, true)],
    [LINKTYPE.EN10MB, ethernet(ip, 42)],
  ];
  for (const [linkType, data] of cases) {
    const got = all(writePcapng([{ ts: 1, data }], { linkType }));
    t.is(got.length, 1, `link type ${linkType}`);
    t.deepEqual(got[0]!.payload, options(7));
  }
});

test('IPv6 with extension headers, compressed addresses', (t) => {
  const hopByHop: [number, Buffer] = [0, Buffer.alloc(6)];
  const destOpts: [number, Buffer] = [60, Buffer.alloc(14)];
  const ip = ipv6('2001:db8::1', '2001:db8:0:0:1::2', 17, udp(5060, 5070, options(3)), [hopByHop, destOpts]);
  const stats = newCaptureStats();
  const got = all(writePcap([{ ts: 1, data: ethernet(ip) }]), stats);
  t.is(got.length, 1);
  t.deepEqual(got[0]!.src, { ip: '2001:db8::1', port: 5060 });
  t.deepEqual(got[0]!.dst, { ip: '2001:db8::1:0:0:2', port: 5070 });
  t.deepEqual(got[0]!.payload, options(3));
});

test('Ethernet padding after a short datagram is not part of the payload', (t) => {
  const frame = ethernet(ipv4(A, B, 17, udp(5060, 5070, Buffer.from('\r\n\r\n'))));
  const padded = Buffer.concat([frame, Buffer.alloc(60 - frame.length)]);
  const got = all(writePcap([{ ts: 1, data: padded }]));
  t.deepEqual(got[0]!.payload, Buffer.from('\r\n\r\n'));
  t.false(looksLikeSip(got[0]!.payload));
});

test('IPv4 fragments are reassembled in any order; a lone fragment is counted', (t) => {
  const datagram = udp(5060, 5070, options(9, 'x'.repeat(3000)));
  const frags = [datagram.subarray(0, 1480), datagram.subarray(1480, 2960), datagram.subarray(2960)];
  const frames = [
    { ts: 1, data: ethernet(ipv4(A, B, 17, frags[2]!, { id: 7, fragOffset: 2960 })) },
    { ts: 1, data: ethernet(ipv4(A, B, 17, frags[0]!, { id: 7, moreFragments: true })) },
    { ts: 1, data: ethernet(ipv4(A, B, 17, frags[1]!, { id: 7, fragOffset: 1480, moreFragments: true })) },
    { ts: 2, data: ethernet(ipv4(A, B, 17, frags[0]!, { id: 8, moreFragments: true })) },
  ];
  const stats = newCaptureStats();
  const got = all(writePcap(frames), stats);
  t.is(got.length, 1);
  t.deepEqual(got[0]!.payload, options(9, 'x'.repeat(3000)));
  t.is(stats.reassembled, 1);
  t.is(stats.fragments, 4);
  t.is(stats.fragmentsDropped, 1);
});

test('IPv6 fragments are reassembled', (t) => {
  const datagram = udp(5060, 5070, options(4, 'y'.repeat(2000)));
  const head = datagram.subarray(0, 1232);
  const rest = datagram.subarray(1232);
  const fragHdr = (off: number, more: boolean): [number, Buffer] => {
    const b = Buffer.alloc(6); // after next-header and reserved: offset+flags, identification
    b.writeUInt16BE(off | (more ? 1 : 0), 0);
    b.writeUInt32BE(0xabcd, 2);
    return [44, b];
  };
  // The fragment header is 8 bytes, so the helper's padding to 8 leaves it exact.
  const frames = [
    { ts: 1, data: ethernet(ipv6('::1', '::1', 17, head, [fragHdr(0, true)])) },
    { ts: 1, data: ethernet(ipv6('::1', '::1', 17, rest, [fragHdr(1232, false)])) },
  ];
  const got = all(writePcapng(frames));
  t.is(got.length, 1);
  t.deepEqual(got[0]!.payload, options(4, 'y'.repeat(2000)));
});

test('TCP: reordered, retransmitted and overlapping segments give each message once', (t) => {
  const m1 = options(1, 'v=0\r\n');
  const m2 = options(2);
  const stream = Buffer.concat([m1, Buffer.from('\r\n\r\n'), m2]);
  const isn = 0xfffffff0; // sequence numbers wrap inside the stream
  const seg = (from: number, to: number) => tcp(40000, 5060, isn + 1 + from, TCP_ACK | TCP_PSH, stream.subarray(from, to));
  const pkt = (b: Buffer): TestFrame => ({ ts: 5, data: ethernet(ipv4(A, B, 6, b)) });
  const frames = [
    pkt(tcp(40000, 5060, isn, TCP_SYN)),
    pkt(seg(0, 50)),
    pkt(seg(120, stream.length)), // out of order
    pkt(seg(0, 50)), // retransmission
    pkt(seg(40, 130)), // overlaps both sides
  ];
  const stats = newCaptureStats();
  const got = all(writePcap(frames), stats);
  t.deepEqual(
    got.map((p) => p.payload.toString()),
    [m1.toString(), m2.toString()],
  );
  t.is(got[0]!.transport, 'tcp');
  t.deepEqual(got[0]!.dst, { ip: B, port: 5060 });
  t.is(stats.tcpMessages, 2);
  t.is(stats.keepAlives, 1);
  t.is(stats.tcpRetransmitted, 1);
  t.is(stats.tcpOutOfOrder, 1);
  t.is(stats.tcpLeftoverBytes, 0);
});

test('TCP: compact Content-Length, a capture that starts mid-stream, a bad length stops the stream', (t) => {
  const m = Buffer.from('SIP/2.0 200 OK\r\nCall-ID: x\r\nl: 3\r\n\r\nabc');
  const bad = Buffer.from('SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n');
  const frames = [
    { ts: 1, data: ethernet(ipv4(A, B, 6, tcp(5060, 40000, 1000, TCP_ACK, Buffer.concat([m, m])))) },
    { ts: 2, data: ethernet(ipv4(B, A, 6, tcp(40000, 5060, 9, TCP_ACK, Buffer.concat([bad, m])))) },
  ];
  const stats = newCaptureStats();
  const got = all(writePcap(frames), stats);
  t.is(got.length, 2);
  t.deepEqual(got[1]!.payload, m);
  t.is(stats.framingErrors, 1);
});

test('bad files give a typed error, never a crash or a hang', (t) => {
  const err = (b: Buffer) => t.throws(() => all(b), { instanceOf: PcapError });
  t.is(err(Buffer.from('hello world, not a capture'))?.code, 'PCAP_BAD_MAGIC');
  t.is(err(Buffer.alloc(2))?.code, 'PCAP_TRUNCATED');
  const good = writePcap([udpFrame(1, options(1)), udpFrame(2, options(2))]);
  t.is(err(good.subarray(0, good.length - 3))?.code, 'PCAP_TRUNCATED');
  const huge = Buffer.from(good);
  huge.writeUInt32LE(0x7fffffff, 24 + 8);
  t.is(err(huge)?.code, 'PCAP_TOO_LARGE');
  const ng = writePcapng([udpFrame(1, options(1))]);
  const badLen = Buffer.from(ng);
  badLen.writeUInt32LE(13, 4);
  t.is(err(badLen)?.code, 'PCAP_BAD_BLOCK');
  const badBom = Buffer.from(ng);
  badBom.writeUInt32LE(0x12345678, 8);
  t.is(err(badBom)?.code, 'PCAP_BAD_MAGIC');
  // the IDB removed: the packet names an interface nobody described
  const shbLen = ng.readUInt32LE(4);
  const idbLen = ng.readUInt32LE(shbLen + 4);
  const noIdb = Buffer.concat([ng.subarray(0, shbLen), ng.subarray(shbLen + idbLen)]);
  t.is(err(noIdb)?.code, 'PCAP_BAD_INTERFACE');
  // packets before the fault are still delivered
  const seen: SipPacket[] = [];
  t.throws(() => {
    for (const p of readCapture(good.subarray(0, good.length - 3))) seen.push(p);
  });
  t.is(seen.length, 1);
});

test('every truncation and many corruptions of a valid file end in packets or a PcapError', (t) => {
  const frames = [udpFrame(1, options(1)), { ts: 2, data: ethernet(ipv4(A, B, 6, tcp(1, 2, 3, TCP_ACK, options(2)))) }];
  for (const file of [writePcap(frames), writePcapng(frames), writePcapng(frames, { bigEndian: true })]) {
    let typed = 0;
    for (let cut = 0; cut < file.length; cut++) {
      try {
        all(file.subarray(0, cut));
      } catch (e) {
        if (!(e instanceof PcapError)) return t.fail(`cut at ${cut}: ${String(e)}`);
        typed++;
      }
    }
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 500; i++) {
      const bad = Buffer.from(file);
      for (let k = 0; k < 4; k++) bad[rnd() % bad.length] = rnd() & 0xff;
      try {
        all(bad);
      } catch (e) {
        if (!(e instanceof PcapError)) return t.fail(`corruption ${i}: ${String(e)}`);
      }
    }
    t.true(typed > 0);
  }
});

test('looksLikeSip tells requests and responses from other payloads', (t) => {
  t.true(looksLikeSip(options(1)));
  t.true(looksLikeSip(Buffer.from('SIP/2.0 180 Ringing\r\n\r\n')));
  t.false(looksLikeSip(Buffer.from('\r\n\r\n')));
  t.false(looksLikeSip(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')));
});
