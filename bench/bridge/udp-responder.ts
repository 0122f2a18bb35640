#!/usr/bin/env node
/**
 * The UDP backend of the relay benchmark, run as a child process so it does not share a core
 * with the load generator: answers every request `200 OK` statelessly by copying Via, From,
 * To, Call-ID and CSeq (RFC 3261 §8.2.6), for sipis-bridge and Kamailio alike. Prints
 * `ready <port>` once bound.   node dist/bench/bridge/udp-responder.js [port]
 */
import { createSocket } from 'node:dgram';

const sock = createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
const KEEP = ['via:', 'v:', 'from:', 'f:', 'to:', 't:', 'call-id:', 'i:', 'cseq:'];

sock.on('message', (msg, rinfo) => {
  if (msg[0] === 0x53 && msg[1] === 0x49 && msg[2] === 0x50 && msg[3] === 0x2f) return; // a response
  const end = msg.indexOf('\r\n\r\n');
  if (end < 0) return;
  const lines = msg.toString('latin1', 0, end).split('\r\n');
  if (lines[0]!.startsWith('ACK ')) return;
  let out = 'SIP/2.0 200 OK\r\n';
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const lower = l.slice(0, 8).toLowerCase();
    for (const k of KEEP) {
      if (lower.startsWith(k)) {
        out += k === 'to:' || k === 't:' ? `${l};tag=r\r\n` : `${l}\r\n`;
        break;
      }
    }
  }
  out += 'Content-Length: 0\r\n\r\n';
  sock.send(Buffer.from(out, 'latin1'), rinfo.port, rinfo.address);
});

sock.bind(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${sock.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
