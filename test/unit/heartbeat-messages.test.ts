import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, encode, field } from '../../src/heartbeat/codec.js';
import { buildStatus, parseHeader, parseStatus, type StatusParams } from '../../src/heartbeat/messages.js';
import { DecodeError, type Field } from '../../src/heartbeat/types.js';
import { captureKeys, dumpedPackets, rebuiltPackets } from './heartbeat-fixtures.js';

const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const params: StatusParams = {
  status: 'active',
  deadtimeMs: 300,
  src: 'alpha',
  srcUuid: uuid,
  seq: 0xb2,
  generation: 0x6b031d43,
  wallSeconds: 0x6b031d53,
  hold: ['IPaddr2::10.0.0.5/24/eth0', 'httpd'],
  failed: [],
};

function reasonOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return e.reason;
    throw e;
  }
}

describe('buildStatus', () => {
  it('tg_stopfail: groups the sender could not stop, only when there are some', () => {
    expect(buildStatus(params).some((f) => f.name === 'tg_stopfail')).toBe(false);
    const fields = buildStatus({ ...params, stopFailed: ['httpd'] });
    expect(fields.find((f) => f.name === 'tg_stopfail')?.value.toString()).toBe('httpd');
    expect(parseStatus(fields).stopFailed).toEqual(['httpd']);
    expect(parseStatus(buildStatus(params)).stopFailed).toBeUndefined();
  });

  it('lays out the fields in order with hex numbers', () => {
    const fields = buildStatus(params);
    expect(fields.map((f) => [f.type, f.name, f.type === 0 ? f.value.toString() : f.value.toString('hex')])).toEqual([
      [0, 't', 'status'],
      [0, 'st', 'active'],
      [0, 'dt', '12c'],
      [0, 'protocol', '1'],
      [0, 'tg_hold', 'IPaddr2::10.0.0.5/24/eth0 httpd'],
      [0, 'tg_failed', ''],
      [0, 'src', 'alpha'],
      [1, 'srcuuid', '00112233445566778899aabbccddeeff'],
      [0, 'seq', 'b2'],
      [0, 'hg', '6b031d43'],
      [0, 'ts', '6b031d53'],
      [0, 'ttl', '3'],
    ]);
  });

  it('matches a real Heartbeat status apart from ld and the tg_ extensions', () => {
    const real = decode(dumpedPackets()[0]!.payload, captureKeys());
    const ours = buildStatus(params);
    expect(ours.map((f) => f.name).filter((n) => !n.startsWith('tg_'))).toEqual(real.map((f) => f.name).filter((n) => n !== 'ld'));
    expect(ours.map((f) => f.type).filter((_t, i) => !ours[i]!.name.startsWith('tg_'))).toEqual(
      real.filter((f) => f.name !== 'ld').map((f) => f.type),
    );
  });

  it('adds tg_yielding after tg_hold only when given', () => {
    const names = buildStatus({ ...params, yielding: ['httpd'] }).map((f) => f.name);
    expect(names.slice(4, 7)).toEqual(['tg_hold', 'tg_yielding', 'tg_failed']);
    expect(buildStatus(params).map((f) => f.name)).not.toContain('tg_yielding');
  });

  it('refuses values that would not read back', () => {
    expect(() => buildStatus({ ...params, srcUuid: Buffer.alloc(15) })).toThrow(RangeError);
    expect(() => buildStatus({ ...params, hold: ['two words'] })).toThrow(RangeError);
    expect(() => buildStatus({ ...params, failed: [''] })).toThrow(RangeError);
    expect(() => buildStatus({ ...params, seq: -1 })).toThrow(RangeError);
    expect(() => buildStatus({ ...params, generation: 1.5 })).toThrow(RangeError);
    expect(() => buildStatus({ ...params, deadtimeMs: Number.NaN })).toThrow(RangeError);
    expect(() => buildStatus({ ...params, src: '' })).toThrow(RangeError);
  });

  it('round-trips through the wire', () => {
    const groupArb = fc.array(fc.stringMatching(/^[A-Za-z0-9:/._-]{1,20}$/), { maxLength: 4 });
    fc.assert(
      fc.property(
        fc.record({
          status: fc.constantFrom('init' as const, 'up' as const, 'active' as const),
          deadtimeMs: fc.nat(),
          src: fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
          srcUuid: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
          seq: fc.nat(),
          generation: fc.nat(),
          wallSeconds: fc.nat(),
          hold: groupArb,
          yielding: groupArb,
          failed: groupArb,
        }),
        (p) => {
          const fields = decode(encode(buildStatus(p), captureKeys()), captureKeys());
          expect(parseHeader(fields)).toEqual({ type: 'status', src: p.src, seq: p.seq, generation: p.generation, ts: p.wallSeconds });
          expect(parseStatus(fields)).toEqual({ status: p.status, deadtimeMs: p.deadtimeMs, hold: p.hold, yielding: p.yielding, failed: p.failed });
          expect(fields.find((f) => f.name === 'srcuuid')!.value.equals(p.srcUuid)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('parseHeader / parseStatus on real Heartbeat traffic', () => {
  it('reads a Heartbeat status; the tandem lists are empty', () => {
    const fields = decode(dumpedPackets()[1]!.payload, captureKeys());
    expect(parseHeader(fields)).toEqual({ type: 'status', src: 'hbb', seq: 0xc7, generation: 0x6b031d43, ts: 0x6b031d55 });
    expect(parseStatus(fields)).toEqual({ status: 'active', deadtimeMs: 300, hold: [], yielding: [], failed: [] });
  });

  it('reads an NS_ackmsg: dest, and no seq', () => {
    const ack = rebuiltPackets().find((p) => p.time === '16:50:28.008129')!;
    const h = parseHeader(decode(ack.payload, captureKeys()));
    expect(h).toEqual({ type: 'NS_ackmsg', src: 'hba', dest: 'hba', generation: 0x6b031d43, ts: 0x6b031d54 });
  });

  it('reads the startup status with the padded initdead deadtime', () => {
    const init = rebuiltPackets().find((p) => p.time === '16:52:41.548224')!;
    const fields = decode(init.payload, captureKeys());
    expect(parseStatus(fields)).toMatchObject({ status: 'init', deadtimeMs: 0x8fc });
    expect(parseHeader(fields).seq).toBe(1);
  });
});

describe('parseHeader / parseStatus reject', () => {
  const base = (): Field[] => [field('t', 'status'), field('st', 'up'), field('src', 'a'), field('seq', '1f')];
  const without = (name: string): Field[] => base().filter((f) => f.name !== name);
  const replaced = (name: string, f: Field): Field[] => base().map((x) => (x.name === name ? f : x));

  it('a missing or empty t or src', () => {
    expect(reasonOf(() => parseHeader(without('t')))).toBe('field');
    expect(reasonOf(() => parseHeader(without('src')))).toBe('field');
    expect(reasonOf(() => parseHeader(replaced('src', field('src', ''))))).toBe('field');
    expect(reasonOf(() => parseHeader(replaced('t', field('t', Buffer.from('status')))))).toBe('field');
    expect(reasonOf(() => parseHeader(base()))).toBe('ok');
  });

  it('numbers that are not hex', () => {
    for (const [name, v] of [['seq', 'xyz'], ['seq', ''], ['seq', '-1'], ['seq', '0x1f'], ['hg', '1 2'], ['ts', 'fffffffffffffffff']] as const) {
      expect([name, v, reasonOf(() => parseHeader([...base().filter((f) => f.name !== name), field(name, v)]))]).toEqual([name, v, 'field']);
    }
    expect(reasonOf(() => parseHeader(replaced('seq', field('seq', Buffer.from('1f')))))).toBe('field');
  });

  it('a status without st, or with a non-hex dt', () => {
    expect(reasonOf(() => parseStatus(without('st')))).toBe('field');
    expect(reasonOf(() => parseStatus([...base(), field('dt', '12c ms')]))).toBe('field');
    expect(parseStatus([...base(), field('tg_hold', '  a  b '), field('tg_failed', 'c')])).toEqual({ status: 'up', hold: ['a', 'b'], yielding: [], failed: ['c'] });
  });
});
