// The host's interfaces and their addresses, kept current from the kernel's
// link and address events (keepalived keeps its interface list the same
// way, core/keepalived_netlink.c). A takeover places its VIPs from this
// view instead of dumping every link and address first: on a 10 ms VRRP
// advert interval those two dumps were a third of a millisecond of a
// backup's takeover, most of it decoding that only the rare takeover runs.
//
// The view can lag the kernel by events not yet read. That is safe for
// what uses it: an add is sent whatever the view says is there (the kernel
// answers EEXIST), a vanished interface answers ENODEV and the caller
// retries from a fresh dump, and removals never use it (removeVip dumps:
// an address left behind is worse than a slower release).

import type { Netlink, NetEvent, NetWatcher, IfAddress, InterfaceInfo } from './netlink.js';

export class InterfaceView {
  private readonly byIndex = new Map<number, InterfaceInfo>();
  /** Rebuilt on demand after a change. */
  private list?: InterfaceInfo[];
  /** Events that arrived while a dump ran: applied after it, in order. */
  private buffered?: NetEvent[];
  private current = false;
  private closed = false;
  private readonly watcher: NetWatcher;

  private constructor(private readonly nl: Netlink, watch: (onEvent: (e: NetEvent) => void) => NetWatcher) {
    // Subscribed before the first dump: nothing that changes after the dump is missed.
    this.watcher = watch((e) => this.onEvent(e));
  }

  /** Watches, then reads the current state once; rejects (closing the watcher) when that read fails. */
  static async open(nl: Netlink, watch: (onEvent: (e: NetEvent) => void) => NetWatcher): Promise<InterfaceView> {
    const v = new InterfaceView(nl, watch);
    try {
      await v.reread();
    } catch (e) {
      v.close();
      throw e;
    }
    return v;
  }

  /** The interfaces as last heard, or undefined while a re-read after lost events runs (dump instead). Do not modify. */
  interfaces(): readonly InterfaceInfo[] | undefined {
    if (!this.current) return undefined;
    this.list ??= [...this.byIndex.values()].sort((a, b) => a.index - b.index);
    return this.list;
  }

  /** A change this process made and the kernel acknowledged: in the view before its event is read. */
  noteAddress(op: 'add' | 'del', index: number, a: IfAddress): void {
    this.onEvent({ kind: 'address', op, index, ...a });
  }

  close(): void {
    this.closed = true;
    this.watcher.close();
  }

  private onEvent(e: NetEvent): void {
    if (this.closed) return;
    if (e.kind === 'overrun') {
      // Events were dropped: the view may be wrong in ways no later event fixes.
      this.current = false;
      void this.reread().catch(() => { /* stays not current: callers dump until an event or overrun tries again */ });
      return;
    }
    if (this.buffered) {
      this.buffered.push(e);
      return;
    }
    this.apply(e);
  }

  private apply(e: Exclude<NetEvent, { kind: 'overrun' }>): void {
    this.list = undefined;
    if (e.kind === 'link') {
      if (e.removed) { this.byIndex.delete(e.index); return; }
      const old = this.byIndex.get(e.index);
      const i: InterfaceInfo = {
        name: e.name, index: e.index, up: e.up, running: e.running, carrier: e.carrier, loopback: e.loopback, noarp: e.noarp,
        addresses: old?.addresses ?? [],
      };
      if (e.mac !== undefined) i.mac = e.mac;
      this.byIndex.set(e.index, i);
      return;
    }
    const i = this.byIndex.get(e.index);
    if (!i) return;   // its link's event comes first; an address of a link not seen is re-read with it
    const { kind: _k, op, index: _i, ...a } = e;
    const rest = i.addresses.filter((x) => !(x.address === a.address && x.prefixLen === a.prefixLen));
    i.addresses = op === 'add' ? [...rest, a] : rest;
  }

  private async reread(): Promise<void> {
    if (this.buffered) return;   // one already runs; it applies what arrives meanwhile
    this.buffered = [];
    try {
      const ifs = await this.nl.interfaces();
      this.byIndex.clear();
      for (const i of ifs) this.byIndex.set(i.index, i);
      this.list = undefined;
      // Events from before the dump are applied over it too: each is a state
      // the kernel had, in order, so the last one read is the newest.
      for (const e of this.buffered) if (e.kind !== 'overrun') this.apply(e);
      this.current = true;
    } finally {
      this.buffered = undefined;
    }
  }
}
