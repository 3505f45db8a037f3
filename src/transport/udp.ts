// Heartbeat media over UDP: ucast, bcast and mcast, each one socket bound to
// its interface with SO_BINDTODEVICE (through the native addon, since dgram
// cannot), so a heartbeat path really is the interface it is configured on.

import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import native from 'tandem-native';
import type { Medium } from '../config/types.js';
import { UserError } from '../util/errors.js';

export interface Path {
  readonly name: string;
  /** UDP: the receive buffer the kernel granted (bytes, as SO_RCVBUF reports it). */
  readonly recvBufferBytes?: number;
  send(buf: Buffer): void;
  close(): Promise<void>;
}

export type OnDatagram = (buf: Buffer, path: string, from: string) => void;
export type OnPathError = (path: string, err: Error) => void;

export function pathName(m: Medium): string {
  switch (m.kind) {
    case 'ucast': return `ucast ${m.iface} ${m.peer}`;
    case 'bcast': return `bcast ${m.iface}`;
    case 'mcast': return `mcast ${m.iface} ${m.group}`;
  }
}

interface IfAddr { address: string; netmask: string }

function ipv4Of(iface: string): IfAddr {
  const addrs = networkInterfaces()[iface];
  if (!addrs) throw new UserError(`interface ${iface} does not exist`);
  const a = addrs.find((x) => x.family === 'IPv4' && !x.internal) ?? addrs.find((x) => x.family === 'IPv4');
  if (!a) throw new UserError(`interface ${iface} has no IPv4 address`);
  return { address: a.address, netmask: a.netmask };
}

/** Addresses configured on this host, to skip the ucast line that points at ourselves (identical ha.cf on both nodes). */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

function broadcastOf({ address, netmask }: IfAddr): string {
  const a = address.split('.').map(Number);
  const m = netmask.split('.').map(Number);
  return a.map((x, i) => (x | (~m[i]! & 255)) & 255).join('.');
}

function socketFd(sock: dgram.Socket): number {
  // dgram keeps its handle behind a private symbol; reading it this way
  // avoids the deprecated `_handle` accessor.
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const state = sym ? (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym] : undefined;
  const fd = state?.handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot reach the UDP socket descriptor');
  return fd;
}

/**
 * Receive buffer asked for on every UDP path. A flood fills the default
 * 208 KiB in a few milliseconds of event-loop stall (a GC, a netlink call),
 * and the kernel then drops the peer's heartbeats with the junk; 4 MiB rides
 * out such stalls, while draining a full buffer of junk still takes only a
 * few tens of milliseconds, well inside any deadtime.
 */
export const RECV_BUFFER_BYTES = 4 << 20;

function bindSocket(sock: dgram.Socket, port: number, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    sock.once('error', onError);
    sock.bind({ port, ...(address ? { address } : {}), exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

export async function openUdpPath(m: Medium, onDatagram: OnDatagram, onError: OnPathError): Promise<Path> {
  const name = pathName(m);
  const ifa = ipv4Of(m.iface);
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  let dest: string;
  let recvBufferBytes: number;
  try {
    if (m.kind === 'mcast') {
      await bindSocket(sock, m.port);
      sock.addMembership(m.group, ifa.address);
      sock.setMulticastInterface(ifa.address);
      sock.setMulticastTTL(m.ttl);
      sock.setMulticastLoopback(m.loop);
      dest = m.group;
    } else {
      await bindSocket(sock, m.port);
      if (m.kind === 'bcast') {
        sock.setBroadcast(true);
        dest = broadcastOf(ifa);
      } else {
        dest = m.peer;
      }
    }
    native.bindToDevice(socketFd(sock), m.iface);
    recvBufferBytes = native.setRecvBuffer(socketFd(sock), RECV_BUFFER_BYTES);
  } catch (e) {
    sock.close();
    const msg = (e as NodeJS.ErrnoException).code === 'EADDRINUSE'
      ? `port ${m.port} is already in use on this host` : (e as Error).message;
    throw new UserError(`${name}: ${msg}`);
  }
  const port = m.port;
  sock.on('message', (buf, rinfo) => onDatagram(buf, name, rinfo.address));
  sock.on('error', (e) => onError(name, e));
  return {
    name,
    recvBufferBytes,
    send(buf: Buffer) {
      sock.send(buf, port, dest, (err) => { if (err) onError(name, err); });
    },
    close() {
      return new Promise((resolve) => sock.close(() => resolve()));
    },
  };
}
