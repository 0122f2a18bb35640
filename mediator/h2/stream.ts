/**
 * What a stream of our HTTP/2 client carries (RFC 9113 §5.1), and the interfaces between a
 * session, its owner (the pool) and each request's outcome.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { Logger } from 'pino';
import type { H2Session } from './session.js';

export interface H2Response {
  status: number;
  /** Regular response headers, lower-case names; repeated fields joined with ", ". */
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Where a request's outcome goes (the pool's pending request: no closure per request). */
export interface ResponseSink {
  resolve(r: H2Response): void;
  reject(e: Error): void;
}

/** The session's owner (a pool connection) hears about state changes through these. */
export interface SessionOwner {
  /** Every SETTINGS frame from the peer; the first one makes the session usable. */
  onRemoteSettings(s: H2Session): void;
  onGoaway(s: H2Session, errorCode: number, lastStreamId: number): void;
  /** A stream slot was freed. */
  onStreamClosed(s: H2Session): void;
  /** The connection is gone; `err` is undefined after a graceful close. */
  onClose(s: H2Session, err: Error | undefined): void;
}

export interface SessionOptions {
  log: Logger;
  /** Default :authority and :scheme for requests that do not carry their own. */
  authority: string;
  scheme: 'https' | 'http';
  /** The socket was made with an `onread` buffer whose callback calls `H2Session.receive`. */
  externalRead?: boolean;
}

/** A response body beyond this stalls (and times out): the per-stream window is never replenished. */
export const LOCAL_STREAM_WINDOW = 1024 * 1024;

export class Stream {
  status = 0;
  headers: IncomingHttpHeaders | undefined;
  chunks: Buffer[] | undefined;
  /** Request body still to send (flow control), and how far it got. */
  body: Buffer | undefined;
  bodyOff = 0;
  localEnded = false;
  blocked = false;
  done = false;
  recvWindow = LOCAL_STREAM_WINDOW;
  constructor(
    readonly id: number,
    readonly sink: ResponseSink,
    readonly wantBody: boolean,
    readonly timeoutMs: number,
    readonly deadline: number,
    public sendWindow: number,
  ) {}
}
