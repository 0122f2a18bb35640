/**
 * The npm peers measured beside our parser: `sip` (sip.js) and `drachtio-sip`. Both take text,
 * so the decode of the datagram is part of their work, as it is of ours.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface SipJsVia {
  params: Record<string, string | null>;
}
interface SipJsAddr {
  params: Record<string, string | null>;
}
export interface SipJsMessage {
  method?: string;
  status?: number;
  headers: {
    via: SipJsVia[];
    from: SipJsAddr;
    to: SipJsAddr;
    'call-id': string;
    cseq: { seq: number; method: string };
  };
}

interface SipJs {
  parse(s: string): SipJsMessage | undefined;
  stringify(m: unknown): string;
  makeResponse(rq: SipJsMessage, status: number, reason: string): unknown;
}

interface Drachtio {
  parser: {
    parseSipMessage(s: string | Buffer): SipJsMessage;
    stringifySipMessage?: (m: unknown) => string;
  };
}

export const sipJs = require('sip') as SipJs;
export const drachtio = require('drachtio-sip') as Drachtio;

/** The values the benchmark task reads: Call-ID, CSeq, top Via branch, From tag, To tag. */
export type Extract = [callId: string, seq: number, branch: string | null | undefined, fromTag: unknown, toTag: unknown];

export function sipJsTask(buf: Buffer): Extract {
  const m = sipJs.parse(buf.toString('binary'))!;
  const h = m.headers;
  return [h['call-id'], h.cseq.seq, h.via[0]!.params.branch, h.from.params.tag, h.to.params.tag];
}

export function drachtioTask(buf: Buffer): Extract {
  const m = drachtio.parser.parseSipMessage(buf);
  const h = m.headers;
  return [h['call-id'], h.cseq.seq, h.via[0]!.params.branch, h.from.params.tag, h.to.params.tag];
}

/** sip.js's own way to answer: makeResponse from the parsed request, then stringify and encode. */
export function sipJsRespond(parsed: SipJsMessage): Buffer {
  const rs = sipJs.makeResponse(parsed, 200, 'OK') as { headers: { to: { params: Record<string, string> } } };
  rs.headers.to.params.tag = 'b5a8c3';
  return Buffer.from(sipJs.stringify(rs), 'binary');
}
