// Notify scripts: one at a time in transition order, apart from the
// transitions; a key's waiting run is replaced by its newer one.
import { describe, expect, it } from 'vitest';
import { NotifyQueue } from '../../src/vrrp/notify-queue.js';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  return { promise, open };
}

describe('notify queue', () => {
  it('runs one at a time in push order; a newer run of a waiting key replaces it', async () => {
    const replaced: string[] = [];
    const q = new NotifyQueue((k) => replaced.push(k));
    const ran: string[] = [];
    const first = gate();
    q.push('instance A', async () => { ran.push('A MASTER'); await first.promise; });
    q.push('group G', async () => { ran.push('G MASTER'); });
    q.push('instance A', async () => { ran.push('A BACKUP'); });
    q.push('instance A', async () => { ran.push('A FAULT'); });
    expect(ran).toEqual(['A MASTER']);
    first.open();
    await q.whenIdle();
    expect(ran).toEqual(['A MASTER', 'G MASTER', 'A FAULT']);
    expect(replaced).toEqual(['instance A']);
  });

  it('goes on after a run that throws, and is idle at once when empty', async () => {
    const q = new NotifyQueue();
    await q.whenIdle();
    const ran: string[] = [];
    q.push('a', async () => { throw new Error('boom'); });
    q.push('b', async () => { ran.push('b'); });
    await q.whenIdle();
    expect(ran).toEqual(['b']);
  });
});
