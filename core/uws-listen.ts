/**
 * uWebSockets.js binds its listen sockets with SO_REUSEPORT unless told otherwise: a second
 * process started on a port already in use binds without an error, and the kernel then splits
 * new connections between the two (a forgotten old mediator would take half the pushes, two
 * bridges would split the WebSocket phones). Every uWS listener of ours binds exclusively, so a
 * port in use fails the start like any node:net listener does.
 */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';

/** LIBUS_LISTEN_EXCLUSIVE_PORT of uSockets (the typings declare this overload without a host). */
const EXCLUSIVE_PORT = 1;

type ListenWithOptions = (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp;

/** Listens on host:port without SO_REUSEPORT; resolves with the listen socket, or false when the port is taken. */
export function listenExclusive(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket | false> {
  const listen = app.listen as unknown as ListenWithOptions;
  return new Promise((resolve) => listen.call(app, host, port, EXCLUSIVE_PORT, resolve));
}
