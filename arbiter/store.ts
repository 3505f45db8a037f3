// The arbiter's durable state in LevelDB: grants and the newest request
// number of every node. Each batch is fsynced before the adapter sends the
// replies that depend on it, so a crash can never forget a grant it already
// announced, nor accept a request it had already answered.

import type { ClassicLevel } from 'classic-level';
import { LevelWriter, levelRead, openLevel } from '../src/state/level.js';
import type { GrantRecord, NonceRecord, StoreOp } from './machine.js';

// Names may hold '/', so each part is URI-encoded: keys stay unambiguous.
const enc = encodeURIComponent;
const grantKey = (cluster: string, group: string) => `grant/${enc(cluster)}/${enc(group)}`;
// Per group; a key without the group part is a record from before the counters were per group.
const nonceKey = (cluster: string, node: string, group?: string) =>
  `nonce/${enc(cluster)}/${enc(node)}${group === undefined ? '' : `/${enc(group)}`}`;

export class ArbiterStore {
  private readonly writer: LevelWriter;

  private constructor(
    private readonly db: ClassicLevel<string, string>, readonly dir: string,
    /** Found at open, worth a warning; nothing was lost. */
    readonly notes: string[],
  ) {
    this.writer = new LevelWriter(db, dir, 'arbiter');
  }

  static async open(dir: string): Promise<ArbiterStore> {
    const { db, notes } = await openLevel(dir, 'arbiter');
    return new ArbiterStore(db, dir, notes);
  }

  /** Everything on disk. Unreadable records are reported and skipped rather than crashing the arbiter. */
  async load(warn: (msg: string) => void): Promise<{ grants: GrantRecord[]; nonces: NonceRecord[] }> {
    return levelRead(this.dir, 'arbiter', () => this.loadRecords(warn));
  }

  private async loadRecords(warn: (msg: string) => void): Promise<{ grants: GrantRecord[]; nonces: NonceRecord[] }> {
    const grants: GrantRecord[] = [];
    const nonces: NonceRecord[] = [];
    for await (const [k, v] of this.db.iterator({ gte: 'grant/', lt: 'grant0' })) {
      const r = parse<GrantRecord>(v);
      if (r && typeof r.cluster === 'string' && typeof r.group === 'string' && typeof r.node === 'string' && isCount(r.ttlMs) && r.ttlMs > 0) {
        grants.push({ cluster: r.cluster, group: r.group, node: r.node, ttlMs: r.ttlMs });
      } else {
        warn(`${this.dir}: unreadable grant record ${k}; ignored`);
      }
    }
    for await (const [k, v] of this.db.iterator({ gte: 'nonce/', lt: 'nonce0' })) {
      const r = parse<NonceRecord>(v);
      if (r && typeof r.cluster === 'string' && typeof r.node === 'string' && isCount(r.gen) && isCount(r.seq) &&
        (r.group === undefined || typeof r.group === 'string')) {
        nonces.push({ cluster: r.cluster, node: r.node, ...(r.group !== undefined ? { group: r.group } : {}), gen: r.gen, seq: r.seq });
      } else {
        warn(`${this.dir}: unreadable request counter ${k}; ignored`);
      }
    }
    return { grants, nonces };
  }

  /** One fsynced batch. Later ops win over earlier ones on the same key. */
  async write(ops: StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    const batch = ops.map((op) => {
      switch (op.type) {
        case 'put-grant':
          return { type: 'put' as const, key: grantKey(op.rec.cluster, op.rec.group), value: JSON.stringify(op.rec) };
        case 'del-grant':
          return { type: 'del' as const, key: grantKey(op.cluster, op.group) };
        case 'put-nonce':
          return { type: 'put' as const, key: nonceKey(op.rec.cluster, op.rec.node, op.rec.group), value: JSON.stringify(op.rec) };
      }
    });
    await this.writer.write(batch, true);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parse<T>(v: string): Partial<T> | undefined {
  try {
    const o = JSON.parse(v) as unknown;
    return typeof o === 'object' && o !== null ? (o as Partial<T>) : undefined;
  } catch {
    return undefined;
  }
}
