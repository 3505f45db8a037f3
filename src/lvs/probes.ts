// The health checks themselves: one attempt of a checker against its real
// server, resolved with what was seen (never rejected). Run in the checker
// worker (checker-worker.ts), never on the thread that sends heartbeats.
// Every attempt is bounded by connect_timeout (a MISC_CHECK by
// misc_timeout), every answer read is bounded in size.

import { createHash, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { runChild } from '../agents/runner.js';
import type { CheckResult } from './checker.js';
import { DNS_TYPES, type CheckerSpec } from './config.js';

/** An HTTP body is read up to this much for the digest (keepalived reads it all; a health page is small). */
const BODY_MAX = 1 << 20;
const LINE_MAX = 4096;

const fail = (reason: string): CheckResult => ({ ok: false, reason });
const ok = (reason: string, weight?: number): CheckResult => (weight === undefined ? { ok: true, reason } : { ok: true, reason, weight });

function errReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused', EHOSTUNREACH: 'host unreachable', ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset', ETIMEDOUT: 'timed out', EADDRNOTAVAIL: 'bindto address not available',
  };
  return err.code ? words[err.code] ?? err.code : err.message ?? String(e);
}

const timeoutText = (ms: number) => `no answer within ${ms / 1000} s`;

export function probe(spec: CheckerSpec): Promise<CheckResult> {
  switch (spec.type) {
    case 'TCP_CHECK': return tcpCheck(spec);
    case 'HTTP_GET': case 'SSL_GET': return httpCheck(spec);
    case 'MISC_CHECK': return miscCheck(spec);
    case 'SMTP_CHECK': return smtpCheck(spec);
    case 'DNS_CHECK': return dnsCheck(spec);
  }
}

function tcpConnect(spec: CheckerSpec): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = connect({ host: spec.ip, port: spec.port, ...(spec.bindTo ? { localAddress: spec.bindTo } : {}) });
    const timer = setTimeout(() => { s.destroy(); resolve(timeoutText(spec.connectTimeoutMs)); }, spec.connectTimeoutMs);
    s.once('connect', () => { clearTimeout(timer); resolve(s); });
    s.once('error', (e) => { clearTimeout(timer); s.destroy(); resolve(errReason(e)); });
  });
}

async function tcpCheck(spec: CheckerSpec): Promise<CheckResult> {
  const s = await tcpConnect(spec);
  if (typeof s === 'string') return fail(s);
  // A reset rather than a FIN: the check leaves no TIME_WAIT behind on either side.
  s.resetAndDestroy();
  return ok('connected');
}

function statusOk(spec: CheckerSpec['urls'][number], code: number): boolean {
  if (spec.statusCodes.length === 0) return code >= 200 && code <= 299;
  return spec.statusCodes.some(([lo, hi]) => code >= lo && code <= hi);
}

function httpOnce(spec: CheckerSpec, url: CheckerSpec['urls'][number]): Promise<CheckResult> {
  return new Promise((resolve) => {
    const tls = spec.type === 'SSL_GET';
    const host = url.virtualhost ?? spec.virtualhost;
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const opts = {
      host: spec.ip, port: spec.port, path: url.path, method: 'GET', agent: false as const,
      headers: { Host: host ?? (spec.ip.includes(':') ? `[${spec.ip}]:${spec.port}` : `${spec.ip}:${spec.port}`), 'User-Agent': 'tandem-checker', Connection: 'close' },
      ...(spec.bindTo ? { localAddress: spec.bindTo } : {}),
      ...(tls ? { rejectUnauthorized: false, ...(host ? { servername: host } : {}) } : {}),
    };
    const onResponse = (res: IncomingMessage): void => {
      const code = res.statusCode ?? 0;
      if (!statusOk(url, code)) { finish(fail(`${url.path}: HTTP ${code}`)); return; }
      if (!url.digest) { finish(ok(`${url.path}: HTTP ${code}`)); return; }
      const md5 = createHash('md5');
      let n = 0;
      res.on('data', (b: Buffer) => {
        n += b.length;
        if (n > BODY_MAX) { finish(fail(`${url.path}: body over ${BODY_MAX} bytes`)); return; }
        md5.update(b);
      });
      res.once('end', () => {
        const sum = md5.digest('hex');
        finish(sum === url.digest ? ok(`${url.path}: HTTP ${code}, digest matches`) : fail(`${url.path}: digest ${sum}, expected ${url.digest}`));
      });
      res.once('error', (e) => finish(fail(`${url.path}: ${errReason(e)}`)));
    };
    const req = tls ? httpsRequest(opts, onResponse) : httpRequest(opts, onResponse);
    const timer = setTimeout(() => finish(fail(`${url.path}: ${timeoutText(spec.connectTimeoutMs)}`)), spec.connectTimeoutMs);
    req.once('error', (e) => finish(fail(`${url.path}: ${errReason(e)}`)));
    req.end();
  });
}

async function httpCheck(spec: CheckerSpec): Promise<CheckResult> {
  let last: CheckResult = fail('no url');
  // keepalived checks every url; the server is good only if all are.
  for (const url of spec.urls) {
    last = await httpOnce(spec, url);
    if (!last.ok) return last;
  }
  return last;
}

async function miscCheck(spec: CheckerSpec): Promise<CheckResult> {
  const m = spec.misc!;
  const c = m.command;
  const as = c.uid !== undefined && c.gid !== undefined ? { uid: c.uid, gid: c.gid } : undefined;
  try {
    const r = await runChild({ path: c.path ?? c.argv[0]!, args: c.argv.slice(1), timeoutMs: m.timeoutMs, ...(as ? { as } : {}) });
    if (r.spawnError !== undefined) return fail(`cannot run ${c.path ?? c.argv[0]!}: ${r.spawnError}`);
    if (r.timedOut) return fail(`timed out after ${m.timeoutMs / 1000} s`);
    if (r.code === null) return fail(`killed by ${r.signal ?? 'a signal'}`);
    if (r.code === 0) return ok('exit 0');
    // misc_dynamic: 2..255 is up with weight code - 2 (keepalived's rule); 1 is down.
    if (m.dynamic && r.code >= 2) return ok(`exit ${r.code}: weight ${r.code - 2}`, r.code - 2);
    return fail(`exit ${r.code}`);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
}

/** Reads SMTP reply lines until a final one ("250 ..." rather than "250-..."). */
function smtpReply(s: Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (v: string): void => { clearTimeout(timer); s.off('data', onData); s.off('error', onErr); s.off('end', onEnd); resolve(v); };
    const onData = (b: Buffer): void => {
      buf += b.toString('latin1');
      if (buf.length > LINE_MAX) { done('reply too long'); return; }
      for (const line of buf.split('\r\n').slice(0, -1)) if (/^[0-9]{3} /.test(line)) { done(line); return; }
    };
    const onErr = (e: Error): void => done(errReason(e));
    const onEnd = (): void => done('closed by the server');
    const timer = setTimeout(() => done(timeoutText(ms)), ms);
    s.on('data', onData);
    s.once('error', onErr);
    s.once('end', onEnd);
  });
}

async function smtpCheck(spec: CheckerSpec): Promise<CheckResult> {
  const s = await tcpConnect(spec);
  if (typeof s === 'string') return fail(s);
  try {
    const banner = await smtpReply(s, spec.connectTimeoutMs);
    if (!banner.startsWith('220 ')) return fail(`banner: ${banner.slice(0, 80)}`);
    s.write(`HELO ${spec.heloName}\r\n`);
    const helo = await smtpReply(s, spec.connectTimeoutMs);
    if (!helo.startsWith('250 ')) return fail(`HELO: ${helo.slice(0, 80)}`);
    s.write('QUIT\r\n');
    return ok('220, HELO 250');
  } finally {
    s.destroy();
  }
}

/** A DNS query for `name`/`type`, class IN, recursion desired. */
export function dnsQuery(id: number, name: string, type: number): Buffer {
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 0) + 1 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2);   // RD
  q.writeUInt16BE(1, 4);        // QDCOUNT
  let off = 12;
  for (const l of labels) { off = q.writeUInt8(Buffer.byteLength(l), off); off += q.write(l, off, 'latin1'); }
  off = q.writeUInt8(0, off);
  off = q.writeUInt16BE(type, off);
  q.writeUInt16BE(1, off);
  return q;
}

function dnsCheck(spec: CheckerSpec): Promise<CheckResult> {
  return new Promise((resolve) => {
    const s = createSocket(spec.ip.includes(':') ? 'udp6' : 'udp4');
    const id = randomInt(0, 0x10000);
    const done = (r: CheckResult): void => { clearTimeout(timer); s.close(); resolve(r); };
    const timer = setTimeout(() => done(fail(timeoutText(spec.connectTimeoutMs))), spec.connectTimeoutMs);
    s.on('error', (e) => done(fail(errReason(e))));
    s.on('message', (m, rinfo) => {
      // Only the server's answer to this query counts.
      if (rinfo.port !== spec.port || m.length < 12 || m.readUInt16BE(0) !== id || (m[2]! & 0x80) === 0) return;
      const rcode = m[3]! & 0x0f;
      done(rcode === 0 ? ok(`${spec.dns.type} ${spec.dns.name}: NOERROR, ${m.readUInt16BE(6)} answers`) : fail(`${spec.dns.type} ${spec.dns.name}: rcode ${rcode}`));
    });
    const send = (): void => s.send(dnsQuery(id, spec.dns.name, DNS_TYPES[spec.dns.type]), spec.port, spec.ip, (e) => { if (e) done(fail(errReason(e))); });
    if (spec.bindTo) s.bind({ address: spec.bindTo, port: 0 }, send);
    else send();
  });
}
