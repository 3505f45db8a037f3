// Binary min-heap keyed by (time, insertion order). The insertion order
// breaks ties, so events due at the same instant run in the order they were
// scheduled: the run is a pure function of the seed.

export interface Timed {
  t: number;
  order: number;
}

export class EventHeap<E extends Timed> {
  private items: E[] = [];
  private counter = 0;

  get size(): number {
    return this.items.length;
  }

  /** Stamps `ev.order` and inserts it. */
  push(ev: E): void {
    ev.order = this.counter++;
    const a = this.items;
    a.push(ev);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): E | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Timed, y: Timed): boolean {
  return x.t < y.t || (x.t === y.t && x.order < y.order);
}
