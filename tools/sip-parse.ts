#!/usr/bin/env node
/**
 * sip-parse: parses one SIP message (a file or stdin) and prints it as JSON, or counts the valid
 * and invalid SIP messages in a capture.
 *
 * A message is valid when it parses and every typed header value it carries decodes (the parser
 * decodes values lazily, so this tool asks for each one). Digest `response` values are redacted:
 * the output may end up in logs and bug reports.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isKeepAlive, parseMessage, SipParseError, type SipMessage } from '../core/sip/index.js';
import { PcapError, readCapture, looksLikeSip, newCaptureStats } from './pcap/index.js';

const USAGE = `usage: sip-parse [--] FILE|-       print the message in FILE (or stdin) as JSON
                                     (a CRLF keep-alive as {"type": "keep-alive"})
       sip-parse --pcap FILE [--verbose] [--json]
                                     count valid and invalid SIP messages in a capture (pcap or
                                     pcapng; keep-alives and payloads that are not SIP apart)
exit status: 0 valid, 1 invalid, 2 usage error`;

class UsageError extends Error {}

/** Every value the message layer types, in one plain object (Maps become objects). */
export function describeMessage(msg: SipMessage): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (msg.isRequest) {
    d.type = 'request';
    d.method = msg.method;
    d.uri = msg.uri;
    d.requestUri = msg.requestUri;
  } else {
    d.type = 'response';
    d.status = msg.status;
    d.reason = msg.reason;
  }
  d.headers = msg.headers().map(([name, value]) => ({ name, value: /^(proxy-)?authorization$/i.test(name) ? redactResponse(value) : value }));
  d.callId = msg.callId;
  d.cseq = msg.cseq;
  d.via = msg.via;
  d.from = msg.from;
  d.to = msg.to;
  d.contact = msg.contact;
  d.maxForwards = msg.maxForwards;
  d.expires = msg.expires;
  d.route = msg.route;
  d.recordRoute = msg.recordRoute;
  d.contentType = msg.contentType;
  d.contentLength = msg.contentLength;
  d.supported = msg.supported;
  d.require = msg.require;
  d.allow = msg.allow;
  d.event = msg.event;
  d.wwwAuthenticate = msg.wwwAuthenticate;
  d.proxyAuthenticate = msg.proxyAuthenticate;
  d.authorization = msg.authorization;
  d.proxyAuthorization = msg.proxyAuthorization;
  d.bodyLength = msg.body.length;
  // bytes after the body (RFC 4475 §3.1.1.11: a datagram holding more than the message)
  d.trailingBytes = msg.trailingBytes;
  return d;
}

function redactResponse(value: string): string {
  return value.replace(/(\bresponse\s*=\s*)("[^"]*"|[^,\s]+)/i, '$1"<redacted>"');
}

function jsonReplacer(key: string, value: unknown): unknown {
  if (value instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of value) o[String(k)] = k === 'response' && typeof v === 'string' ? '<redacted>' : v;
    return o;
  }
  return value;
}

export function toJson(msg: SipMessage): string {
  return JSON.stringify(describeMessage(msg), jsonReplacer, 2);
}

function readInput(path: string): Buffer {
  try {
    return path === '-' ? readFileSync(0) : readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function errorText(e: unknown): string {
  if (e instanceof SipParseError || e instanceof PcapError) return `${e.code}: ${e.message}`;
  return String(e);
}

function parseOne(path: string): number {
  const bytes = readInput(path);
  // a CRLF keep-alive (RFC 5626 §4.4.1; §7.5) is what it is, not an invalid message
  if (isKeepAlive(bytes)) {
    process.stdout.write(`${JSON.stringify({ type: 'keep-alive', bytes: bytes.length }, null, 2)}\n`);
    return 0;
  }
  let out: string;
  try {
    out = toJson(parseMessage(bytes));
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
    process.stderr.write(`invalid: ${errorText(e)}\n`);
    return 1;
  }
  process.stdout.write(`${out}\n`);
  return 0;
}

function parsePcap(path: string, verbose: boolean, json: boolean): number {
  const bytes = readInput(path);
  const stats = newCaptureStats();
  let valid = 0;
  let invalid = 0;
  let other = 0;
  let n = 0;
  let fileError: string | undefined;
  try {
    for (const p of readCapture(bytes, { stats })) {
      if (isKeepAlive(p.payload)) {
        // a datagram's keep-alive; a stream's are counted by its framer
        stats.keepAlives++;
        continue;
      }
      if (!looksLikeSip(p.payload)) {
        other++;
        continue;
      }
      n++;
      try {
        describeMessage(parseMessage(p.payload));
        valid++;
      } catch (e) {
        if (!(e instanceof SipParseError)) throw e;
        invalid++;
        if (verbose) {
          const from = `${p.src.ip}:${p.src.port} -> ${p.dst.ip}:${p.dst.port}/${p.transport}`;
          process.stderr.write(`message ${n} (${from}, t=${p.ts.toFixed(6)}): ${errorText(e)}\n`);
        }
      }
    }
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    fileError = errorText(e);
  }
  if (json) process.stdout.write(`${JSON.stringify({ file: path, messages: n, valid, invalid, other, error: fileError, capture: stats })}\n`);
  else process.stdout.write(`${path}: ${n} SIP messages, ${valid} valid, ${invalid} invalid; ${stats.keepAlives} keep-alives, ${other} other payloads\n`);
  if (fileError) process.stderr.write(`capture error: ${fileError}\n`);
  return invalid > 0 || fileError ? 1 : 0;
}

export function main(argv: string[]): number {
  try {
    let pcap: string | undefined;
    let verbose = false;
    let json = false;
    const files: string[] = [];
    let options = true;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (!options) files.push(a);
      else if (a === '--') options = false;
      else if (a === '--help' || a === '-h') {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      } else if (a === '--pcap') {
        pcap = argv[++i];
        if (pcap === undefined) throw new UsageError('--pcap needs a file');
      } else if (a === '--verbose' || a === '-v') verbose = true;
      else if (a === '--json') json = true;
      else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
      else files.push(a);
    }
    if (pcap !== undefined) {
      if (files.length > 0) throw new UsageError('--pcap takes no other file');
      return parsePcap(pcap, verbose, json);
    }
    if (files.length !== 1) throw new UsageError('one FILE (or -) expected');
    return parseOne(files[0]!);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sip-parse: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
}

// Run when executed (also through the npm bin symlink), not when imported by a test.
const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) process.exitCode = main(process.argv.slice(2));
