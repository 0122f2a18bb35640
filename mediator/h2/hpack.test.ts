import test from 'ava';
import { H2Error } from './errors.js';
import { HpackDecoder, HpackEncoder, Indexing } from './hpack.js';
import { CODES, CODE_LENGTHS, EOS, huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js';

type Fields = Array<[string, string]>;
interface Vector {
  id: string;
  hex: string;
  /** dynamic table size after the block */
  size: number;
  fields: Fields;
}

const REQ1: Fields = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: Fields = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: Fields = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const RES1: Fields = [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']];
const RES2: Fields = [[':status', '307'], ...RES1.slice(1)];
const RES3: Fields = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
  ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'],
  ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
];

// RFC 7541 Appendix C.3–C.6: each group shares one table across its blocks.
const C3: Vector[] = [
  { id: 'C.3.1', hex: '828684410f7777772e6578616d706c652e636f6d', size: 57, fields: REQ1 },
  { id: 'C.3.2', hex: '828684be58086e6f2d6361636865', size: 110, fields: REQ2 },
  { id: 'C.3.3', hex: '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565', size: 164, fields: REQ3 },
];
const C4: Vector[] = [
  { id: 'C.4.1', hex: '828684418cf1e3c2e5f23a6ba0ab90f4ff', size: 57, fields: REQ1 },
  { id: 'C.4.2', hex: '828684be5886a8eb10649cbf', size: 110, fields: REQ2 },
  { id: 'C.4.3', hex: '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf', size: 164, fields: REQ3 },
];
const C5: Vector[] = [
  {
    id: 'C.5.1',
    hex: '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
    size: 222,
    fields: RES1,
  },
  { id: 'C.5.2', hex: '4803333037c1c0bf', size: 222, fields: RES2 },
  {
    id: 'C.5.3',
    hex: '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
    size: 215,
    fields: RES3,
  },
];
const C6: Vector[] = [
  { id: 'C.6.1', hex: '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3', size: 222, fields: RES1 },
  { id: 'C.6.2', hex: '4883640effc1c0bf', size: 222, fields: RES2 },
  {
    id: 'C.6.3',
    hex: '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
    size: 215,
    fields: RES3,
  },
];

function decodeAll(dec: HpackDecoder, hex: string): Fields {
  const out: string[] = [];
  const buf = Buffer.from(hex, 'hex');
  dec.decode(buf, 0, buf.length, out);
  const fields: Fields = [];
  for (let i = 0; i < out.length; i += 2) fields.push([out[i]!, out[i + 1]!]);
  return fields;
}

function encodeAll(enc: HpackEncoder, fields: Fields): string {
  const buf = Buffer.alloc(4096);
  let off = enc.begin(buf, 0);
  for (const [n, v] of fields) off = enc.field(n, v, buf, off);
  return buf.subarray(0, off).toString('hex');
}

test('C.2: single literal representations, with and without indexing', (t) => {
  const dec = new HpackDecoder();
  t.deepEqual(decodeAll(dec, '400a637573746f6d2d6b65790d637573746f6d2d686561646572'), [['custom-key', 'custom-header']]);
  t.is(dec.table.size, 55);
  const d2 = new HpackDecoder();
  t.deepEqual(decodeAll(d2, '040c2f73616d706c652f70617468'), [[':path', '/sample/path']]);
  t.deepEqual(decodeAll(d2, '100870617373776f726406736563726574'), [['password', 'secret']]);
  t.deepEqual(decodeAll(d2, '82'), [[':method', 'GET']]);
  t.is(d2.table.size, 0, 'neither literal without indexing nor never-indexed enters the table');
});

for (const [group, vectors, tableSize, huffman] of [
  ['C.3', C3, 4096, false],
  ['C.4', C4, 4096, true],
  ['C.5', C5, 256, false],
  ['C.6', C6, 256, true],
] as const) {
  test(`${group}: the decoder reads each block with the shared dynamic table`, (t) => {
    const dec = new HpackDecoder();
    // The decoder's own setting stays 4096 here; a size update (to 256: 3f e1 01) shrinks the table.
    if (tableSize !== 4096) t.deepEqual(decodeAll(dec, '3fe101'), []);
    for (const v of vectors) {
      t.deepEqual(decodeAll(dec, v.hex), v.fields, v.id);
      t.is(dec.table.size, v.size, `${v.id} table size`);
    }
  });
  test(`${group}: the encoder (index on first sight) writes the RFC's exact bytes`, (t) => {
    const enc = new HpackEncoder({ indexFirst: true, huffman: huffman ? 'always' : 'never', maxTableSize: tableSize });
    enc.setPeerTableSize(tableSize);
    // The size update itself is not part of the RFC's blocks: start past it.
    if (tableSize !== 4096) enc.begin(Buffer.alloc(8), 0);
    for (const v of vectors) {
      t.is(encodeAll(enc, v.fields), v.hex, v.id);
      t.is(enc.table.size, v.size, `${v.id} table size`);
    }
  });
}

test('Huffman: canonical codes rebuilt from the lengths match Appendix B', (t) => {
  t.is(CODES[48], 0x0); // '0'
  t.is(CODE_LENGTHS[48], 5);
  t.is(CODES[32], 0x14); // ' '
  t.is(CODES[126], 0x1ffd); // '~'
  t.is(CODE_LENGTHS[126], 13);
  t.is(CODES[0], 0x1ff8);
  t.is(CODES[255], 0x3ffffee);
  t.is(CODES[EOS], 0x3fffffff);
  t.is(CODE_LENGTHS[EOS], 30);
});

test('Huffman: every octet round-trips; bad padding and EOS are decoding errors', (t) => {
  let all = '';
  for (let c = 0; c < 256; c++) all += String.fromCharCode(c);
  for (const s of [all, 'www.example.com', 'no-cache', '', 'a', '\u00ff\u0000\u00ff']) {
    const buf = Buffer.alloc(huffmanLength(s));
    t.is(huffmanEncode(s, buf, 0), buf.length);
    t.is(huffmanDecode(buf, 0, buf.length), s);
  }
  // 'a' is 00011 (5 bits): 00011 + 000 pads with zeros, not EOS's ones.
  t.throws(() => huffmanDecode(Buffer.from([0x18]), 0, 1), { instanceOf: H2Error, code: 'ERR_H2_COMPRESSION' });
  // A whole octet of ones after a complete symbol: padding longer than 7 bits.
  t.throws(() => huffmanDecode(Buffer.from([0x1f, 0xff]), 0, 2), { instanceOf: H2Error, code: 'ERR_H2_COMPRESSION' });
  // EOS itself (30 ones) inside the string.
  t.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), { instanceOf: H2Error, code: 'ERR_H2_COMPRESSION' });
});

test('decoder: malformed blocks are typed COMPRESSION errors, never exceptions of another kind', (t) => {
  const bad = [
    '80', // index 0
    'c0', // dynamic index 65 in an empty table
    'ff', // integer truncated
    'ff8080808080808001', // integer overflow
    '41', // literal missing its value
    '4105616263', // string longer than the block
    '820f', // nothing valid: 0x0f is a 4-bit prefixed integer needing more octets
    '823f', // size update after a field (and truncated)
    '3fe21f', // size update to 4097, over our 4096 setting
  ];
  for (const hex of bad) {
    const e = t.throws(() => decodeAll(new HpackDecoder(), hex), { instanceOf: H2Error }, hex);
    t.is(e?.code, 'ERR_H2_COMPRESSION', hex);
  }
  // A size update first is fine; two in a row too (RFC 7541 §4.2).
  const dec = new HpackDecoder();
  t.deepEqual(decodeAll(dec, '203fe11f82'), [[':method', 'GET']]);
  t.is(dec.table.maxSize, 4096);
});

test('decoder: a header list over the limit is ERR_H2_HEADER_LIST', (t) => {
  const dec = new HpackDecoder(4096, 100);
  // custom-key: custom-header is 55 octets; twice is over 100.
  const one = '400a637573746f6d2d6b65790d637573746f6d2d686561646572';
  t.throws(() => decodeAll(dec, one + 'be'), { instanceOf: H2Error, code: 'ERR_H2_HEADER_LIST' });
});

test('encoder: a value indexed once it repeats; unique values stay literal; round trip through the decoder', (t) => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  const buf = Buffer.alloc(8192);
  const sizes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const fields: Fields = [
      [':method', 'POST'],
      [':scheme', 'https'],
      [':authority', 'api.push.apple.com'],
      [':path', `/3/device/${String(i).repeat(64)}`],
      ['apns-topic', 'com.example.phone.voip'],
      ['apns-push-type', 'voip'],
      ['authorization', i < 3 ? 'bearer aaaa.bbbb.cccc' : 'bearer dddd.eeee.ffff'],
      ['apns-id', `0000000${i}-0000-0000-0000-000000000000`],
    ];
    let off = enc.begin(buf, 0);
    for (const [n, v] of fields) off = enc.field(n, v, buf, off, n === ':path' || n === 'apns-id' ? Indexing.Never : Indexing.Auto);
    sizes.push(off);
    const out: string[] = [];
    dec.decode(buf, 0, off, out);
    t.deepEqual(out, fields.flat(), `request ${i}`);
  }
  // Request 2 and later carry the repeating headers as single octets: only :path and apns-id are long.
  t.true(sizes[2]! < sizes[0]! - 50, sizes.join(','));
  t.is(sizes[2], 6 + (2 + 74) + (2 + 7 + 1 + 36), `steady block is ${sizes[2]} octets`);
  t.is(sizes[5], sizes[2], 'a new JWT is indexed again once it repeats');
});

test('encoder: a peer that shrinks the table gets size updates (min, then final) and stays in sync', (t) => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  const buf = Buffer.alloc(1024);
  const send = (fields: Fields) => {
    let off = enc.begin(buf, 0);
    for (const [n, v] of fields) off = enc.field(n, v, buf, off);
    const out: string[] = [];
    dec.decode(buf, 0, off, out);
    t.deepEqual(out, fields.flat());
    return buf.subarray(0, off);
  };
  send([['x-a', '1']]);
  send([['x-a', '1']]);
  t.is(enc.table.count, 1);
  enc.setPeerTableSize(0);
  enc.setPeerTableSize(100);
  const b = send([['x-a', '1']]);
  t.is(b[0], 0x20, 'size update to 0 first');
  t.is(b[1], 0x3f, 'then to 100 (5-bit prefix continued)');
  t.is(dec.table.maxSize, 100);
  send([['x-a', '1']]);
  t.is(enc.table.count, 1, 'indexed again after the table was emptied');
  send([['x-a', '1']]);
});

test('decoder: 20,000 random and mutated blocks only ever raise H2Error (seeded, bounded)', (t) => {
  let seed = 0x2545f491;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const valid = [...C3, ...C4, ...C5, ...C6].map((v) => Buffer.from(v.hex, 'hex'));
  let errors = 0;
  for (let i = 0; i < 20_000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) {
      buf = Buffer.alloc(1 + Math.floor(rnd() * 40));
      for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(rnd() * 256);
    } else {
      buf = Buffer.from(valid[i % valid.length]!);
      for (let k = 0; k < 3; k++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
    }
    const dec = new HpackDecoder(4096, 8192);
    try {
      dec.decode(buf, 0, buf.length, []);
    } catch (e) {
      if (!(e instanceof H2Error)) {
        t.fail(`block ${buf.toString('hex')} threw ${String(e)}`);
        return;
      }
      errors++;
    }
  }
  t.true(errors > 1000, `${errors} blocks refused`);
});

test('literal names repeated block after block (never indexed, raw or Huffman) decode the same, past the cache of eight', (t) => {
  for (const huffman of ['never', 'always'] as const) {
    const enc = new HpackEncoder({ huffman });
    const dec = new HpackDecoder();
    const names = Array.from({ length: 12 }, (_, i) => `x-name-${i}`);
    for (let round = 0; round < 3; round++) {
      const buf = Buffer.alloc(4096);
      let off = enc.begin(buf, 0);
      const sent: string[] = [];
      for (const [i, n] of names.entries()) {
        const v = `v${round}-${i}`;
        off = enc.field(n, v, buf, off, Indexing.Never);
        sent.push(n, v);
      }
      // A name that shares a cached one's first octets is not taken for it.
      off = enc.field('x-name-99', 'last', buf, off, Indexing.Never);
      sent.push('x-name-99', 'last');
      const out: string[] = [];
      dec.decode(buf, 0, off, out);
      t.deepEqual(out, sent, `${huffman} round ${round}`);
    }
  }
});
