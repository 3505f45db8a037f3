// The event-fed interface view: current after its first read, kept so by
// link and address events (also those that arrive while it reads), not
// current after lost events until it has read again.
import { describe, expect, it } from 'vitest';
import { InterfaceView } from '../../src/net/interfaces.js';
import type { InterfaceInfo, Netlink, NetEvent, NetWatcher } from '../../src/net/netlink.js';

function iface(index: number, name: string, addresses: InterfaceInfo['addresses'] = []): InterfaceInfo {
  return { name, index, up: true, running: true, carrier: true, loopback: false, noarp: false, addresses };
}

const addr = (address: string, prefixLen = 24) => ({ family: 4 as const, address, prefixLen, secondary: false });

function setup(initial: InterfaceInfo[]) {
  let emit!: (e: NetEvent) => void;
  let closed = false;
  let dumps = 0;
  let state = initial;
  let duringDump: (() => void) | undefined;
  const nl = {
    interfaces: async () => {
      dumps++;
      const snapshot = structuredClone(state);
      duringDump?.();
      duringDump = undefined;
      return snapshot;
    },
  } as unknown as Netlink;
  const watch = (on: (e: NetEvent) => void) => { emit = on; return { close: () => { closed = true; } } as unknown as NetWatcher; };
  return {
    nl, watch,
    emit: (e: NetEvent) => emit(e),
    set: (s: InterfaceInfo[]) => { state = s; },
    onNextDump: (f: () => void) => { duringDump = f; },
    dumps: () => dumps,
    closed: () => closed,
  };
}

describe('interface view', () => {
  it('follows address and link events after its first read', async () => {
    const h = setup([iface(2, 'eth0', [addr('10.0.0.1')])]);
    const v = await InterfaceView.open(h.nl, h.watch);
    h.emit({ kind: 'address', op: 'add', index: 2, ...addr('10.0.0.100') });
    expect(v.interfaces()![0]!.addresses.map((a) => a.address)).toEqual(['10.0.0.1', '10.0.0.100']);
    h.emit({ kind: 'address', op: 'del', index: 2, ...addr('10.0.0.1') });
    expect(v.interfaces()![0]!.addresses.map((a) => a.address)).toEqual(['10.0.0.100']);
    h.emit({ kind: 'link', index: 2, name: 'eth0', up: false, running: false, carrier: false, loopback: false, noarp: false, removed: false });
    expect(v.interfaces()![0]).toMatchObject({ up: false, addresses: [addr('10.0.0.100')] });
    h.emit({ kind: 'link', index: 3, name: 'eth1', up: true, running: true, carrier: true, loopback: false, noarp: false, mac: '02:00:00:00:00:03', removed: false });
    expect(v.interfaces()!.map((i) => i.name)).toEqual(['eth0', 'eth1']);
    h.emit({ kind: 'link', index: 2, name: 'eth0', up: false, running: false, carrier: false, loopback: false, noarp: false, removed: true });
    expect(v.interfaces()!.map((i) => i.name)).toEqual(['eth1']);
    expect(h.dumps()).toBe(1);
    v.close();
    expect(h.closed()).toBe(true);
  });

  it('applies events that arrive while it reads on top of what it read', async () => {
    const h = setup([iface(2, 'eth0')]);
    h.onNextDump(() => h.emit({ kind: 'address', op: 'add', index: 2, ...addr('10.0.0.7') }));
    const v = await InterfaceView.open(h.nl, h.watch);
    expect(v.interfaces()![0]!.addresses.map((a) => a.address)).toEqual(['10.0.0.7']);
  });

  it('is not current after lost events until it has read again', async () => {
    const h = setup([iface(2, 'eth0')]);
    const v = await InterfaceView.open(h.nl, h.watch);
    h.set([iface(2, 'eth0', [addr('10.0.0.9')])]);
    h.emit({ kind: 'overrun' });
    expect(v.interfaces()).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(v.interfaces()![0]!.addresses.map((a) => a.address)).toEqual(['10.0.0.9']);
    expect(h.dumps()).toBe(2);
  });

  it("takes this process's own acknowledged changes before their events are read", async () => {
    const h = setup([iface(2, 'eth0')]);
    const v = await InterfaceView.open(h.nl, h.watch);
    v.noteAddress('add', 2, addr('10.0.0.100'));
    expect(v.interfaces()![0]!.addresses).toEqual([addr('10.0.0.100')]);
    // Its event, read later, changes nothing; the removal's does.
    h.emit({ kind: 'address', op: 'add', index: 2, ...addr('10.0.0.100') });
    expect(v.interfaces()![0]!.addresses).toEqual([addr('10.0.0.100')]);
    v.noteAddress('del', 2, addr('10.0.0.100'));
    expect(v.interfaces()![0]!.addresses).toEqual([]);
  });

  it('closes its watcher when the first read fails', async () => {
    const h = setup([]);
    (h.nl as unknown as { interfaces: () => Promise<never> }).interfaces = async () => { throw new Error('EPERM'); };
    await expect(InterfaceView.open(h.nl, h.watch)).rejects.toThrow('EPERM');
    expect(h.closed()).toBe(true);
  });
});
