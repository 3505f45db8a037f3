// The request socket reads the kernel's answer inside the send when it is
// there (no event-loop turn on a takeover's path), waits for readability
// when it is not, and fails every waiting request when answers were lost.
import { describe, expect, it } from 'vitest';
import { RtnlSocket, NetlinkError, type NlTransport } from '../../src/net/netlink.js';
import { NLMSG_ERROR } from '../../src/net/rtnetlink.js';

/** An ack (errno 0) or error for `seq`, as the kernel sends it with NETLINK_CAP_ACK. */
function ack(seq: number, errno = 0): Buffer {
  const b = Buffer.alloc(16 + 4 + 16);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(NLMSG_ERROR, 4);
  b.writeUInt32LE(seq, 8);
  b.writeInt32LE(-errno, 16);
  return b;
}

class FakeTransport implements NlTransport {
  queued: Buffer[] = [];
  sent: Buffer[][] = [];
  waits: boolean[] = [];
  /** What the "kernel" queues in answer to a send. */
  answer: (msgs: Buffer[]) => Buffer[] = (msgs) => msgs.map((m) => ack(m.readUInt32LE(8)));
  recvError?: NodeJS.ErrnoException;
  constructor(readonly onReadable: () => void) {}
  send(m: Buffer[]): void { this.sent.push(m); this.queued.push(...this.answer(m)); }
  recv(): Buffer | null {
    if (this.recvError) { const e = this.recvError; delete this.recvError; throw e; }
    return this.queued.shift() ?? null;
  }
  wait(on: boolean): void { this.waits.push(on); }
  close(): void {}
}

function open(): { s: RtnlSocket; t: FakeTransport } {
  let t!: FakeTransport;
  const s = new RtnlSocket((onReadable) => (t = new FakeTransport(onReadable)));
  return { s, t };
}

function request(s: RtnlSocket): { seq: number; bytes: Buffer; dump: boolean } {
  const seq = s.nextSeq();
  const bytes = Buffer.alloc(16);
  bytes.writeUInt32LE(16, 0);
  bytes.writeUInt32LE(seq, 8);
  return { seq, bytes, dump: false };
}

describe('netlink request socket', () => {
  it('settles a request the kernel answered inside the send, before anything the loop runs next', async () => {
    const { s, t } = open();
    const order: string[] = [];
    setImmediate(() => order.push('loop turn'));
    const [p] = s.send([request(s)]);
    await p!.then(() => order.push('answered'));
    expect(order).toEqual(['answered']);
    expect(t.waits).toEqual([]);   // never polled
  });

  it('polls for an answer not queued yet, and stops polling once it is read', async () => {
    const { s, t } = open();
    t.answer = () => [];
    const r = request(s);
    const [p] = s.send([r]);
    expect(t.waits).toEqual([true]);
    t.queued.push(ack(r.seq, 17));   // EEXIST
    t.onReadable();
    await expect(p).rejects.toMatchObject({ code: 'EEXIST' });
    expect(t.waits).toEqual([true, false]);
  });

  it('fails every waiting request with the errno when the answers were lost (ENOBUFS)', async () => {
    const { s, t } = open();
    t.answer = () => [];
    const ps = s.send([request(s), request(s)]);
    t.recvError = Object.assign(new Error('recvmsg: No buffer space available'), { code: 'ENOBUFS' });
    t.onReadable();
    for (const p of ps) await expect(p).rejects.toMatchObject({ code: 'ENOBUFS' });
    expect(t.waits.at(-1)).toBe(false);
  });

  it('rejects the batch when the send itself fails, and a closed socket refuses new requests', async () => {
    const { s, t } = open();
    t.send = () => { throw Object.assign(new Error('sendmsg: Operation not permitted'), { code: 'EPERM' }); };
    const [p] = s.send([request(s)]);
    await expect(p).rejects.toBeInstanceOf(NetlinkError);
    await expect(p).rejects.toMatchObject({ code: 'EPERM' });
    s.close(new NetlinkError('closed'));
    await expect(s.send([request(s)])[0]).rejects.toThrow('closed');
  });
});
