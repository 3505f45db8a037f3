// The two spellings of ha.cf's `arbiter` line, parsed without I/O so the
// configuration parser can check them without loading a socket or HTTP
// client (arbiter-client.ts and etcd.ts use the same functions at start).

import { UserError } from '../util/errors.js';

/** "host:port" / "[v6]:port" -> parts, or a UserError naming the value (for `arbiter` in ha.cf). */
export function parseArbiterAddress(s: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:([0-9]{1,5})$/.exec(s) ?? /^([A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new UserError(`arbiter address '${s}': expected HOST:PORT, e.g. 192.0.2.9:7610`);
  return { host: m[1]!, port };
}

/** `etcd://h1:2379,h2:2379/tandem` -> endpoints and key prefix; UserError naming the value otherwise. */
export function parseEtcdUrl(s: string): { endpoints: string[]; prefix: string } {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(s);
  if (!m) throw new UserError(`arbiter '${s}': expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX`);
  const endpoints = m[1]!.split(',').map((hp) => {
    const e = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(hp);
    const port = e ? Number(e[2]) : NaN;
    if (!e || !(port >= 1 && port <= 65535)) throw new UserError(`arbiter '${s}': '${hp}' is not HOST:PORT`);
    return `http://${e[1]}:${port}`;
  });
  const prefix = (m[2] ?? '/tandem').replace(/\/+$/, '') || '/tandem';
  if (/[\s\x00-\x1f]/.test(prefix)) throw new UserError(`arbiter '${s}': the key prefix contains blanks or control characters`);
  return { endpoints, prefix };
}
