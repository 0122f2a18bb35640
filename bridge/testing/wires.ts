/**
 * Wires for MiniUa: a UDP socket, a TCP or TLS stream (framed with the bridge's own framer),
 * and a minimal RFC 6455 WebSocket client over node:net / node:tls (subprotocol `sip`, masked
 * text frames, no extensions), written here because the bridge's tests must not trust the
 * server library to test itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { StreamFramer } from '../framer.js';
import type { Wire } from './sipua.js';

export interface UdpWire extends Wire {
  socket: UdpSocket;
  port: number;
  /** where requests go (responses go back to the last sender) */
  target: { host: string; port: number };
  sent: number;
}

export async function udpWire(target: { host: string; port: number } = { host: '127.0.0.1', port: 9 }, bindPort = 0): Promise<UdpWire> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(bindPort, '127.0.0.1', r));
  let handler: (m: Buffer) => void = () => undefined;
  let last: { address: string; port: number } | undefined;
  const w: UdpWire = {
    socket,
    port: socket.address().port,
    target,
    sent: 0,
    send(msg) {
      w.sent++;
      const isResponse = msg.subarray(0, 8).toString() === 'SIP/2.0 ';
      const dest = isResponse && last ? { host: last.address, port: last.port } : w.target;
      socket.send(msg, dest.port, dest.host);
    },
    onMessage(fn) {
      handler = fn;
    },
    close() {
      try {
        socket.close();
      } catch {
        // already closed
      }
    },
  };
  socket.on('message', (m, rinfo) => {
    last = rinfo;
    handler(m);
  });
  return w;
}

export interface StreamWire extends Wire {
  socket: Socket;
  closed: Promise<void>;
  localPort: number;
}

function framed(socket: Socket): StreamWire {
  let handler: (m: Buffer) => void = () => undefined;
  const framer = new StreamFramer({ message: (m) => handler(Buffer.from(m)), ping: () => undefined }, 1 << 20);
  socket.on('data', (d: Buffer) => framer.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    closed,
    localPort: socket.localPort ?? 0,
    send: (m) => void socket.write(m),
    onMessage: (fn) => void (handler = fn),
    close: () => void socket.destroy(),
  };
}

export async function tcpWire(port: number, host = '127.0.0.1'): Promise<StreamWire> {
  const socket = netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return framed(socket);
}

export async function tlsWire(port: number, opts: ConnectionOptions, host = '127.0.0.1'): Promise<StreamWire> {
  const socket = tlsConnect({ host, port, ...opts });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return framed(socket);
}

/** RFC 6455 client: opening handshake, masked text frames out, unmasked frames in. */
export async function wsWire(port: number, opts: { tls?: ConnectionOptions; protocol?: string; host?: string; origin?: string } = {}): Promise<StreamWire & { handshake: string; opcodes: number[] }> {
  const host = opts.host ?? '127.0.0.1';
  const socket: Socket = opts.tls ? tlsConnect({ host, port, ...opts.tls }) : netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once(opts.tls ? 'secureConnect' : 'connect', resolve);
    socket.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (opts.protocol === '' ? '' : `Sec-WebSocket-Protocol: ${opts.protocol ?? 'sip'}\r\n`) +
      (opts.origin === undefined ? '' : `Origin: ${opts.origin}\r\n`) +
      '\r\n',
  );
  let buf = Buffer.alloc(0);
  const handshake = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString();
      buf = buf.subarray(end + 4);
      resolve(head);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed during handshake')));
  });
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  let handler: (m: Buffer) => void = () => undefined;
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  /** the opcode of each data frame received: 1 text, 2 binary. */
  const opcodes: number[] = [];
  const wire = {
    socket,
    closed,
    handshake,
    opcodes,
    localPort: socket.localPort ?? 0,
    send: (m: Buffer) => void socket.write(wsFrame(m, 0x1)),
    onMessage: (fn: (m: Buffer) => void) => void (handler = fn),
    close: () => void socket.destroy(),
  };
  if (!handshake.startsWith('HTTP/1.1 101') || !handshake.includes(accept)) {
    socket.destroy();
    return wire;
  }
  const onFrames = () => {
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      buf = buf.subarray(off + len);
      if (op === 0x1 || op === 0x2) {
        opcodes.push(op);
        handler(payload);
      }
      else if (op === 0x9) socket.write(wsFrame(payload, 0xa));
      else if (op === 0x8) socket.end();
    }
  };
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    onFrames();
  });
  onFrames();
  return wire;
}

function wsFrame(payload: Buffer, opcode: number): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = 0x80 | len;
  else if (len < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}
