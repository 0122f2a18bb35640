/**
 * Our Via written into the bytes of a request the TU built, without building the message again.
 *
 * The layer owns the top Via of what it sends (§8.1.1.7, §18.1.1: sent-by of the socket used, a
 * branch per transaction, `rport` per RFC 3581), so the TU builds its request with a placeholder.
 * `msg.setHeader('Via', …)` would re-assemble and re-validate the whole message for that one
 * field (~6 KB of garbage and a second scan for every INVITE, BYE and ACK sipis relays); here the
 * serialized bytes are copied once around the new field instead. Same result as setHeader: every
 * Via field goes, ours takes the place of the first one.
 *
 * Only the common shape is handled (CRLF line ends, at least one Via field); anything else returns
 * undefined and the caller falls back to setHeader.
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** Is the field name in data[start, end) (trailing whitespace trimmed) `Via` or `v`, any case? */
function isViaName(data: Buffer, start: number, end: number): boolean {
  while (end > start && (data[end - 1] === SP || data[end - 1] === HT)) end--;
  const n = end - start;
  if (n === 1) return (data[start]! | 0x20) === 0x76;
  return n === 3 && (data[start]! | 0x20) === 0x76 && (data[start + 1]! | 0x20) === 0x69 && (data[start + 2]! | 0x20) === 0x61;
}

/**
 * `data` (a serialized request) with every Via field removed and `Via: <value>` at the place of
 * the first; undefined when the message has no Via field or a line not ended by CRLF.
 */
export function spliceVia(data: Buffer, value: string): Buffer | undefined {
  // the start line
  let lf = data.indexOf(LF);
  if (lf <= 0 || data[lf - 1] !== CR) return undefined;
  let pos = lf + 1;
  // kept ranges of the header block, [start, end) pairs; the new field goes before ranges[at]
  const ranges: number[] = [0, pos];
  let at = -1;
  let inVia = false;
  let headerEnd = -1;
  while (pos < data.length) {
    lf = data.indexOf(LF, pos);
    if (lf < 0 || data[lf - 1] !== CR) return undefined;
    if (lf === pos + 1) {
      headerEnd = pos; // the empty line
      break;
    }
    const c = data[pos]!;
    if (c !== SP && c !== HT) {
      // a new field: its name ends at the colon
      const colon = data.indexOf(COLON, pos);
      if (colon < 0 || colon > lf) return undefined;
      inVia = isViaName(data, pos, colon);
      if (inVia && at < 0) at = ranges.length;
    }
    // a continuation line (SP/HT) belongs to the field above: kept or dropped with it
    if (!inVia) {
      if (ranges[ranges.length - 1] === pos) ranges[ranges.length - 1] = lf + 1;
      else ranges.push(pos, lf + 1);
    }
    pos = lf + 1;
  }
  if (headerEnd < 0 || at < 0) return undefined;
  // the empty line and the body, as they are
  if (ranges[ranges.length - 1] === headerEnd) ranges[ranges.length - 1] = data.length;
  else ranges.push(headerEnd, data.length);
  const field = `Via: ${value}\r\n`;
  let size = field.length;
  for (let i = 0; i < ranges.length; i += 2) size += ranges[i + 1]! - ranges[i]!;
  const out = Buffer.allocUnsafe(size);
  let w = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    if (i === at) w += out.write(field, w, 'latin1');
    w += data.copy(out, w, ranges[i]!, ranges[i + 1]!);
  }
  if (at === ranges.length) w += out.write(field, w, 'latin1');
  return out;
}
