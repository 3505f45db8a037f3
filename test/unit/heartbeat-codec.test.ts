import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuthKeys, AuthMethod } from '../../src/config/types.js';
import { DEFAULT_MAX_BYTES, decode, encode, field, hex, str } from '../../src/heartbeat/codec.js';
import { DecodeError, type DecodeReason, type Field } from '../../src/heartbeat/types.js';
import { captureKeys, dumpedPackets, layout, rebuiltPackets } from './heartbeat-fixtures.js';

const S3CRET = Buffer.from('s3cret');
const keysOf = (sendIndex: number, ...entries: [number, AuthMethod, string][]): AuthKeys => ({
  sendIndex,
  keys: new Map(entries.map(([index, method, key]) => [index, { index, method, key: Buffer.from(key) }])),
});

function reasonOf(f: () => unknown): DecodeReason | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return e.reason;
    throw e;
  }
}

// Independent of the codec: the two checks Heartbeat does, written from the
// protocol description (same as the offline Python check of the capture).
const sha1Hex = (data: Buffer, key = S3CRET): string => createHmac('sha1', key).update(data).digest('hex');
function classicRendering(fields: Field[]): Buffer {
  return Buffer.concat(
    fields
      .filter((f) => f.name !== 'auth')
      .map((f) =>
        f.type === 0
          ? Buffer.concat([Buffer.from(`${f.name}=`), f.value, Buffer.from('\n')])
          : Buffer.from(`(${f.type})${f.name}=${f.value.toString('base64')}\n`),
      ),
  );
}
/** Build a netstring datagram by hand; `trailer` is the token text, or computed with sha1/s3cret. */
function frame(bodies: (string | Buffer)[], trailer?: string): Buffer {
  const parts: Buffer[] = [Buffer.from('###\n')];
  for (const b of bodies) {
    const body = Buffer.isBuffer(b) ? b : Buffer.from(b);
    parts.push(Buffer.from(`${body.length}:`), body, Buffer.from(','));
  }
  parts.push(Buffer.from('%%%\n'));
  const signed = Buffer.concat(parts);
  const tok = trailer ?? `1 ${sha1Hex(signed)}`;
  return Buffer.concat([signed, Buffer.from(`${Buffer.byteLength(tok)}:${tok},`)]);
}

const dumped = dumpedPackets();
const rebuilt = rebuiltPackets();

describe('captured Heartbeat 3.0.6 datagrams (tcpdump -X, byte exact)', () => {
  it('the fixture holds the 4 dumped packets, each a 308-byte payload starting at ###', () => {
    expect(dumped).toHaveLength(4);
    for (const p of dumped) {
      expect(p.payload).toHaveLength(308);
      expect(p.payload.subarray(0, 4).toString()).toBe('###\n');
    }
  });

  it('both tokens of every dumped packet verify with HMAC-SHA1 "s3cret" (checked without the codec)', () => {
    for (const p of dumped) {
      const { fields, tailStart, trailer } = layout(p.payload);
      const signed = p.payload.subarray(0, tailStart + 4);
      expect(p.payload.toString('latin1', trailer.bodyStart, trailer.bodyEnd)).toBe(`1 ${sha1Hex(signed)}`);
      const parsed: Field[] = fields.map((f) => ({
        type: Number(p.payload.toString('latin1', f.bodyStart + 1, f.bodyStart + 2)) as Field['type'],
        name: p.payload.toString('latin1', f.bodyStart + 3, f.eq),
        value: p.payload.subarray(f.eq + 1, f.bodyEnd),
      }));
      const auth = parsed.find((f) => f.name === 'auth')!;
      expect(auth.value.toString()).toBe(`1 ${sha1Hex(classicRendering(parsed))}`);
    }
  });

  const expected = [
    { from: '10.77.0.1.56610', src: 'hba', seq: 'c8', uuid: '24534aff603e4abfbc4b5aa005824073' },
    { from: '10.77.0.2.42413', src: 'hbb', seq: 'c7', uuid: 'c1d6960d4404425ea7ea903184c267da' },
    { from: '10.77.0.1.56610', src: 'hba', seq: 'c9', uuid: '24534aff603e4abfbc4b5aa005824073' },
    { from: '10.77.0.2.42413', src: 'hbb', seq: 'c8', uuid: 'c1d6960d4404425ea7ea903184c267da' },
  ];

  it.each(expected.map((e, i) => [i, e] as const))('packet %i decodes to the captured fields', (i, e) => {
    const p = dumped[i]!;
    expect(p.from).toBe(e.from);
    const fields = decode(p.payload, captureKeys());
    expect(fields.map((f) => `(${f.type})${f.name}`)).toEqual([
      '(0)t', '(0)st', '(0)dt', '(0)protocol', '(0)src', '(1)srcuuid', '(0)seq', '(0)hg', '(0)ts', '(0)ld', '(0)ttl',
    ]);
    expect(str(fields, 't')).toBe('status');
    expect(str(fields, 'st')).toBe('active');
    expect(hex(fields, 'dt')).toBe(0x12c);
    expect(str(fields, 'protocol')).toBe('1');
    expect(str(fields, 'src')).toBe(e.src);
    expect(fields.find((f) => f.name === 'srcuuid')!.value.toString('hex')).toBe(e.uuid);
    expect(str(fields, 'seq')).toBe(e.seq);
    expect(hex(fields, 'seq')).toBe(parseInt(e.seq, 16));
    expect(hex(fields, 'hg')).toBe(0x6b031d43);
    expect(hex(fields, 'ts')).toBe(0x6b031d55);
    expect(str(fields, 'ld')).toBe('0.14 0.23 0.13 1/115 30861');
    expect(str(fields, 'ttl')).toBe('3');
  });

  it.each([0, 1, 2, 3])('packet %i re-encodes to exactly the captured bytes', (i) => {
    const p = dumped[i]!;
    const again = encode(decode(p.payload, captureKeys()), captureKeys());
    expect(again.toString('hex')).toBe(p.payload.toString('hex'));
  });
});

describe('captured datagrams rebuilt from text renderings', () => {
  it('there are 41 of them, covering status, NS_ackmsg, reqnodes, repnodes, starting, resource, ip-request-resp, stonith', () => {
    expect(rebuilt).toHaveLength(41);
    const types = new Set(rebuilt.map((p) => str(decode(p.payload, captureKeys()), 't')));
    expect([...types].sort()).toEqual(['NS_ackmsg', 'ip-request-resp', 'repnodes', 'reqnodes', 'resource', 'starting', 'status', 'stonith']);
  });

  it.each(rebuilt.map((p, i) => [i, p.time, p] as const))('#%i (%s) verifies independently, decodes and re-encodes exactly', (_i, _t, p) => {
    const { tailStart, trailer } = layout(p.payload);
    expect(p.payload.toString('latin1', trailer.bodyStart, trailer.bodyEnd)).toBe(`1 ${sha1Hex(p.payload.subarray(0, tailStart + 4))}`);
    const fields = decode(p.payload, captureKeys());
    expect(fields.some((f) => f.name === 'auth')).toBe(false);
    expect(encode(fields, captureKeys()).equals(p.payload)).toBe(true);
  });

  it('a uuid containing "," (0x2c) is read by length, not split at the comma', () => {
    const withComma = rebuilt.filter((p) => decode(p.payload, captureKeys()).some((f) => f.type === 1 && f.value.includes(0x2c)));
    expect(withComma.length).toBeGreaterThan(0);
    for (const p of withComma) {
      for (const f of decode(p.payload, captureKeys()).filter((x) => x.type === 1)) expect(f.value).toHaveLength(16);
    }
    const ack = rebuilt.find((p) => p.time === '16:52:41.548317')!;
    const fields = decode(ack.payload, captureKeys());
    expect(fields.find((f) => f.name === 'srcuuid')!.value.toString('hex')).toBe('d048bc57e4f34bb3bf2c0efb11629c27');
  });

  it('keeps field order as sent (repnodes puts dest before t) and values with spaces', () => {
    const rep = rebuilt.find((p) => p.time === '16:52:42.555369')!;
    const fields = decode(rep.payload, captureKeys());
    expect(fields.slice(0, 4).map((f) => f.name)).toEqual(['dest', 't', 'nodelist', 'delnodelist']);
    expect(str(fields, 'nodelist')).toBe('hba hbb ');
    expect(str(fields, 'delnodelist')).toBe(' ');
  });
});

describe('decode rejects', () => {
  const pkt = dumped[0]!.payload;
  const keys = captureKeys();

  it('an empty buffer as truncated, anything else too short for a header likewise or as framing', () => {
    expect(reasonOf(() => decode(Buffer.alloc(0), keys))).toBe('truncated');
    expect(reasonOf(() => decode(Buffer.from('##'), keys))).toBe('truncated');
    expect(reasonOf(() => decode(Buffer.from('>>'), keys))).toBe('truncated');
    expect(reasonOf(() => decode(Buffer.from('#x'), keys))).toBe('framing');
    expect(reasonOf(() => decode(Buffer.from('GET / HTTP/1.0\r\n'), keys))).toBe('framing');
  });

  it('a wrong key, a wrong method, a crc key', () => {
    expect(reasonOf(() => decode(pkt, keysOf(1, [1, 'sha1', 's3creT'])))).toBe('auth');
    expect(reasonOf(() => decode(pkt, keysOf(1, [1, 'md5', 's3cret'])))).toBe('auth');
    expect(reasonOf(() => decode(pkt, keysOf(1, [1, 'sha256', 's3cret'])))).toBe('auth');
    expect(reasonOf(() => decode(pkt, keysOf(1, [1, 'crc', ''])))).toBe('auth');
  });

  it('a key index authkeys does not have', () => {
    expect(reasonOf(() => decode(pkt, keysOf(2, [2, 'sha1', 's3cret'])))).toBe('auth-index');
    expect(reasonOf(() => decode(pkt, keysOf(0, [0, 'sha1', 's3cret'], [15, 'sha1', 's3cret'])))).toBe('auth-index');
  });

  it('any flipped byte, at every position; value and token bytes exactly as auth', () => {
    const { fields, trailer } = layout(pkt);
    const opaque = new Set<number>();
    for (const f of fields) for (let i = f.eq + 1; i < f.bodyEnd; i++) opaque.add(i);
    for (let i = trailer.bodyStart + 2; i < trailer.bodyEnd; i++) opaque.add(i);
    for (let pos = 0; pos < pkt.length; pos++) {
      for (const mask of [0x01, 0x20, 0x80, 0xff]) {
        const bad = Buffer.from(pkt);
        bad[pos]! ^= mask;
        const r = reasonOf(() => decode(bad, keys));
        if (opaque.has(pos)) expect([pos, mask, r]).toEqual([pos, mask, 'auth']);
        else expect(['framing', 'truncated', 'field', 'auth', 'auth-index']).toContain(r);
      }
    }
  });

  it('truncation at every length', () => {
    for (let n = 0; n < pkt.length; n++) {
      expect([n, reasonOf(() => decode(pkt.subarray(0, n), keys))]).toEqual([n, 'truncated']);
    }
  });

  it('trailing bytes after the trailer', () => {
    for (const tail of ['x', '\n', '\0', ',', '42:1 00,']) {
      expect(reasonOf(() => decode(Buffer.concat([pkt, Buffer.from(tail)]), keys))).toBe('framing');
    }
  });

  it('bogus field lengths: huge, negative, non-digit, leading zero, off by one', () => {
    const body = pkt.toString('latin1');
    const withLen = (l: string): Buffer => Buffer.from(body.replace('###\n11:', `###\n${l}:`), 'latin1');
    expect(reasonOf(() => decode(withLen('99999999999999999999'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('65537'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('65536'), keys))).toBe('truncated');
    expect(reasonOf(() => decode(withLen('400'), keys))).toBe('truncated');
    expect(reasonOf(() => decode(withLen('-11'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('1a'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen(''), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen(' 11'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('011'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('12'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('10'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withLen('1e1'), keys))).toBe('framing');
    // A digit run longer than any allowed length is refused even when the datagram ends inside it.
    expect(reasonOf(() => decode(Buffer.from('###\n' + '1'.repeat(30)), keys))).toBe('framing');
    expect(reasonOf(() => decode(Buffer.from('###\n' + '1'.repeat(5)), keys))).toBe('truncated');
  });

  it('bogus trailers', () => {
    const signed = pkt.subarray(0, pkt.indexOf('%%%\n') + 4);
    const tok = `1 ${sha1Hex(signed)}`;
    const withTrailer = (t: string): Buffer => Buffer.concat([signed, Buffer.from(t)]);
    expect(reasonOf(() => decode(withTrailer(`42:${tok},`), keys))).toBe('ok');
    expect(reasonOf(() => decode(withTrailer(`042:${tok},`), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer(`43:${tok},`), keys))).toBe('truncated');
    expect(reasonOf(() => decode(withTrailer(`41:${tok},`), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer(`43:${tok} ,`), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer(`43: ${tok},`), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer(`43:01${tok.slice(1)},`), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer(`${tok.length - 2}:${tok.slice(2)},`), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer('2:1 ,'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer('5:100 x,'), keys))).toBe('framing');
    // Same shape, different token: Heartbeat's strcmp would refuse it too.
    expect(reasonOf(() => decode(withTrailer(`42:${tok.toUpperCase()},`), keys))).toBe('auth');
    expect(reasonOf(() => decode(withTrailer('0:,'), keys))).toBe('framing');
    expect(reasonOf(() => decode(withTrailer(''), keys))).toBe('truncated');
  });

  it('bad "%%%" terminators', () => {
    const s = pkt.toString('latin1');
    expect(reasonOf(() => decode(Buffer.from(s.replace('%%%\n', '%%%%'), 'latin1'), keys))).toBe('framing');
    expect(reasonOf(() => decode(Buffer.from(s.replace('%%%\n', '%%\n'), 'latin1'), keys))).toBe('framing');
    // Without it the trailer is walked as one more field and the datagram
    // then ends where "%%%" should follow.
    expect(reasonOf(() => decode(Buffer.from(s.replace('%%%\n', ''), 'latin1'), keys))).toBe('truncated');
  });

  const badBodies = ['(0)noequals', '(9)x=1', '(a)x=1', '0)x=1', '(0x=1', '(0)=v', '(0)', '', '(00)x=1', '(0)a\nb=1', '(0)a\0b=1', '(0)(x=1', Buffer.from([0x28, 0x30, 0x29, 0xff, 0x3d, 0x31])];

  it('malformed field bodies in an authentic datagram as field', () => {
    for (const body of badBodies) {
      expect([body, reasonOf(() => decode(frame(['(0)t=x', body]), keys))]).toEqual([body, 'field']);
    }
  });

  it('field bodies of a datagram that does not authenticate are not looked at', () => {
    for (const body of badBodies) {
      expect([body, reasonOf(() => decode(frame(['(0)t=x', body], `1 ${'0'.repeat(40)}`), keys))]).toEqual([body, 'auth']);
    }
  });

  it('too large datagrams, before parsing', () => {
    const big = Buffer.alloc(DEFAULT_MAX_BYTES + 1, 0x41);
    expect(reasonOf(() => decode(big, keys))).toBe('too-large');
    expect(reasonOf(() => decode(pkt, keys, { maxBytes: 307 }))).toBe('too-large');
    expect(reasonOf(() => decode(pkt, keys, { maxBytes: 308 }))).toBe('ok');
    // A length that cannot fit under a smaller limit is framing, not truncation.
    const s = pkt.toString('latin1').replace('###\n11:', '###\n999:');
    expect(reasonOf(() => decode(Buffer.from(s, 'latin1'), keys, { maxBytes: 400 }))).toBe('framing');
  });
});

describe('inner auth field', () => {
  const two = keysOf(1, [1, 'sha1', 's3cret'], [2, 'md5', 'other']);
  const bodies = (inner?: string): string[] => ['(0)t=status', '(0)src=hba', ...(inner === undefined ? [] : [`(0)auth=${inner}`])];
  const innerText = Buffer.from('t=status\nsrc=hba\n');

  it('is verified with the key its own index names, which may differ from the trailer', () => {
    const inner = `2 ${createHmac('md5', 'other').update(innerText).digest('hex')}`;
    const fields = decode(frame(bodies(inner)), two);
    expect(fields.map((f) => f.name)).toEqual(['t', 'src']);
    expect(reasonOf(() => decode(frame(bodies(inner)), captureKeys()))).toBe('auth-index');
  });

  it('must verify even when the trailer does', () => {
    const wrong = `1 ${sha1Hex(Buffer.from('t=status\nsrc=hbb\n'))}`;
    expect(reasonOf(() => decode(frame(bodies(wrong)), two))).toBe('auth');
    expect(reasonOf(() => decode(frame(bodies(`1 ${sha1Hex(innerText)}`)), two))).toBe('ok');
  });

  it('a valid inner token does not rescue a bad trailer', () => {
    const good = frame(bodies(`1 ${sha1Hex(innerText)}`));
    const t = good.toString('latin1');
    const i = t.lastIndexOf(' ') + 1;
    const flipped = t.slice(0, i) + (t[i] === '0' ? '1' : '0') + t.slice(i + 1);
    expect(reasonOf(() => decode(Buffer.from(flipped, 'latin1'), two))).toBe('auth');
  });

  it('is optional in netstring messages (msgfmt netstring senders omit it)', () => {
    expect(decode(frame(bodies()), two).map((f) => f.name)).toEqual(['t', 'src']);
  });

  it('malformed or duplicated inner auth is a field error', () => {
    const ok = `1 ${sha1Hex(innerText)}`;
    for (const bad of ['', '1', '1 ', 'x 00', '1  00', '01 00', '100 00', ' 1 00']) {
      expect([bad, reasonOf(() => decode(frame(bodies(bad)), two))]).toEqual([bad, 'field']);
    }
    expect(reasonOf(() => decode(frame([...bodies(ok), `(0)auth=${ok}`]), two))).toBe('field');
    expect(reasonOf(() => decode(frame(['(0)t=status', '(0)src=hba', `(1)auth=${ok}`]), two))).toBe('field');
  });
});

describe('classic >>> format on receive', () => {
  const uuid = Buffer.from('d048bc57e4f34bb3bf2c0efb11629c27', 'hex');
  const text = Buffer.concat([Buffer.from('t=status\nst=active\nsrc=hba\n'), Buffer.from(`(1)srcuuid=${uuid.toString('base64')}\n`)]);
  const classic = (auth: string | undefined, tail = '<<<\n'): Buffer =>
    Buffer.concat([Buffer.from('>>>\n'), text, Buffer.from(auth === undefined ? '' : `auth=${auth}\n`), Buffer.from(tail)]);
  const good = classic(`1 ${sha1Hex(text)}`);

  it('decodes a message authenticated by its auth field', () => {
    const fields = decode(good, captureKeys());
    expect(fields).toEqual([
      { type: 0, name: 't', value: Buffer.from('status') },
      { type: 0, name: 'st', value: Buffer.from('active') },
      { type: 0, name: 'src', value: Buffer.from('hba') },
      { type: 1, name: 'srcuuid', value: uuid },
    ]);
    // One NUL after "<<<\n" is tolerated; nothing else is.
    expect(reasonOf(() => decode(Buffer.concat([good, Buffer.of(0)]), captureKeys()))).toBe('ok');
    expect(reasonOf(() => decode(Buffer.concat([good, Buffer.of(0, 0)]), captureKeys()))).toBe('framing');
    expect(reasonOf(() => decode(Buffer.concat([good, Buffer.from('x')]), captureKeys()))).toBe('framing');
  });

  it('requires the auth field, since there is no trailer', () => {
    expect(reasonOf(() => decode(classic(undefined), captureKeys()))).toBe('auth');
    expect(reasonOf(() => decode(classic(`1 ${sha1Hex(text, Buffer.from('x'))}`), captureKeys()))).toBe('auth');
    expect(reasonOf(() => decode(classic(`3 ${sha1Hex(text)}`), captureKeys()))).toBe('auth-index');
  });

  it('truncation at every length', () => {
    for (let n = 0; n < good.length; n++) {
      expect([n, reasonOf(() => decode(good.subarray(0, n), captureKeys()))]).toEqual([n, 'truncated']);
    }
  });

  it('malformed lines as field when signed, as auth when not', () => {
    for (const line of ['noequals', '=v', '(0)x=dGVzdA==', '(9)x=', '(1)x=dGVzdA', '(1)x=dGVzdA=!', '(1)x=dGVzdB==', '(1x=AA==', '', '(1)auth=AA==', 'a\0=1', 'auth']) {
      const lineText = `t=x\n${line}\n`;
      const signed = Buffer.from(`>>>\n${lineText}auth=1 ${sha1Hex(Buffer.from(lineText))}\n<<<\n`);
      expect([line, reasonOf(() => decode(signed, captureKeys()))]).toEqual([line, 'field']);
      const unsigned = Buffer.from(`>>>\n${lineText}auth=1 ${sha1Hex(Buffer.from('t=x\n'))}\n<<<\n`);
      expect([line, reasonOf(() => decode(unsigned, captureKeys()))]).toEqual([line, 'auth']);
    }
  });

  it('the auth line may sit anywhere; a second one is a field error', () => {
    const a = `auth=1 ${sha1Hex(text)}\n`;
    const t = text.toString('latin1');
    const i = t.indexOf('src=');
    const mid = Buffer.from(`>>>\n${t.slice(0, i)}${a}${t.slice(i)}<<<\n`, 'latin1');
    expect(decode(mid, captureKeys()).map((f) => f.name)).toEqual(['t', 'st', 'src', 'srcuuid']);
    const twice = Buffer.from(`>>>\n${a}${t}${a}<<<\n`, 'latin1');
    expect(reasonOf(() => decode(twice, captureKeys()))).toBe('field');
  });

  it('a malformed auth line is a field error', () => {
    for (const a of ['', '1', '1 ', 'x 00', '01 00', '1 00 00']) {
      expect([a, reasonOf(() => decode(classic(a), captureKeys()))]).toEqual([a, 'field']);
    }
  });
});

describe('encode', () => {
  it('round-trips every method and field type, including opaque struct/compressed values', () => {
    const nested = encode([field('x', 'y')], captureKeys());
    const fields: Field[] = [
      field('t', 'probe'),
      field('empty', ''),
      field('bin', Buffer.from([0, 0x2c, 0x0a, 0x3d, 0xff])),
      field('nested', nested, 2),
      field('list', Buffer.from('a\0b\0'), 3),
      field('zipped', Buffer.from([0x78, 0x9c, 0x2c, 0x2c]), 4),
      field('raw', Buffer.from('###\n%%%\n'), 5),
      field('ünïcode', 'välue, with = and\nnewline'),
    ];
    for (const method of ['crc', 'md5', 'sha1', 'sha256'] as const) {
      const keys = keysOf(7, [7, method, method === 'crc' ? '' : 'k'], [1, 'sha1', 's3cret']);
      const buf = encode(fields, keys);
      expect(decode(buf, keys)).toEqual(fields);
      expect(buf.subarray(buf.lastIndexOf('%%%\n') + 4).toString()).toMatch(/^\d+:7 [0-9a-f]+,$/);
      const other: AuthMethod = method === 'sha1' ? 'md5' : 'sha1';
      expect(reasonOf(() => decode(buf, keysOf(7, [7, other, 'k'])))).toBe('auth');
    }
  });

  it('signs with the send index and frames exactly as Heartbeat does', () => {
    const buf = encode([field('t', 'x'), field('u', Buffer.from([1, 2]))], keysOf(3, [3, 'crc', '']));
    const innerText = Buffer.from(`t=x\n(1)u=${Buffer.from([1, 2]).toString('base64')}\n`);
    const crcOf = (b: Buffer): string => {
      let c = 0;
      for (const byte of b) {
        c = (c ^ (byte << 24)) >>> 0;
        for (let i = 0; i < 8; i++) c = (c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1) >>> 0;
      }
      return (~c >>> 0).toString(16);
    };
    const inner = `3 ${crcOf(innerText)}`;
    const signed = Buffer.concat([Buffer.from(`###\n6:(0)t=x,`), Buffer.from('7:(1)u=\x01\x02,', 'latin1'), Buffer.from(`${inner.length + 8}:(0)auth=${inner},%%%\n`)]);
    const tok = `3 ${crcOf(signed)}`;
    expect(buf.toString('latin1')).toBe(Buffer.concat([signed, Buffer.from(`${tok.length}:${tok},`)]).toString('latin1'));
  });

  it('refuses what a peer could not read back', () => {
    const k = captureKeys();
    expect(() => encode([field('t', 'x')], keysOf(2, [1, 'sha1', 'k']))).toThrow(/no key 2/);
    expect(() => encode([{ type: 0, name: 'auth', value: Buffer.from('1 00') }], k)).toThrow(TypeError);
    for (const name of ['', 'a=b', 'a\nb', 'a\0', '(x', '\ud800']) {
      expect(() => encode([{ type: 0, name, value: Buffer.from('v') }], k)).toThrow(TypeError);
      expect(() => field(name, 'v')).toThrow(TypeError);
    }
    expect(() => encode([{ type: 0, name: 'x', value: Buffer.from('a\0b') }], k)).toThrow(TypeError);
    expect(() => encode([{ type: 6 as Field['type'], name: 'x', value: Buffer.from('a') }], k)).toThrow(TypeError);
    expect(() => encode([field('x', Buffer.alloc(DEFAULT_MAX_BYTES))], k)).toThrow(RangeError);
  });
});

describe('helpers', () => {
  const fields = [field('seq', 'b2'), field('hg', '6B031D43'), field('bad', '12g'), field('neg', '-1'), field('huge', 'fffffffffffffff'), field('bin', Buffer.from('12')), field('seq', 'ff'), field('empty', '')];

  it('str returns the first string field', () => {
    expect(str(fields, 'seq')).toBe('b2');
    expect(str(fields, 'bin')).toBeUndefined();
    expect(str(fields, 'missing')).toBeUndefined();
    expect(str(fields, 'empty')).toBe('');
  });

  it('hex parses hex numbers and nothing else', () => {
    expect(hex(fields, 'seq')).toBe(0xb2);
    expect(hex(fields, 'hg')).toBe(0x6b031d43);
    expect(hex(fields, 'bad')).toBeUndefined();
    expect(hex(fields, 'neg')).toBeUndefined();
    expect(hex(fields, 'huge')).toBeUndefined();
    expect(hex(fields, 'bin')).toBeUndefined();
    expect(hex(fields, 'empty')).toBeUndefined();
    expect(hex(fields, 'missing')).toBeUndefined();
  });

  it('field picks string/binary types by value', () => {
    expect(field('a', 'x')).toEqual({ type: 0, name: 'a', value: Buffer.from('x') });
    expect(field('a', Buffer.from('x'))).toEqual({ type: 1, name: 'a', value: Buffer.from('x') });
    expect(field('a', Buffer.from('x'), 0).type).toBe(0);
  });
});
