// The two heartbeat fields quorum needs from the peer, and their lenient parsing.

import { describe, expect, it } from 'vitest';
import { parseQuorumFields, quorumFields } from '../../src/quorum/report.js';

const get = (pairs: Array<[string, string]>) => (n: string) => pairs.find(([k]) => k === n)?.[1];

describe('quorum heartbeat fields', () => {
  it('round-trips reach and hearing', () => {
    const f = quorumFields({ reach: { up: 1, total: 3 }, hearsPeer: false });
    expect(f).toEqual([['tg_ping', '1/3'], ['tg_hears', '0']]);
    expect(parseQuorumFields(get(f))).toEqual({ reach: { up: 1, total: 3 }, hearsPeer: false });
    expect(quorumFields({})).toEqual([]);
  });

  it('treats missing or odd values as not reported', () => {
    expect(parseQuorumFields(() => undefined)).toEqual({});
    for (const v of ['3/1', '-1/2', '1/2/3', 'x', '', '1 /2', '99999/99999']) {
      expect(parseQuorumFields(get([['tg_ping', v]]))).toEqual({});
    }
    expect(parseQuorumFields(get([['tg_hears', 'yes']]))).toEqual({});
  });
});
