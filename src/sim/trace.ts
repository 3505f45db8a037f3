// Trace of a simulated run: one line per processed event. Runs keep only the
// last few entries and format them when something is reported, so a passing
// seed costs no string building; --verbose and the determinism hash format
// every line.

import type { EngineAction, EngineEvent } from '../node/engine.js';

export interface TraceEntry {
  t: number;
  who: string;
  ev?: EngineEvent;
  acts?: EngineAction[];
  note?: string;
}

const list = (name: string, xs: readonly string[]) => (xs.length ? ` ${name}[${xs.join(',')}]` : '');

function formatEvent(ev: EngineEvent): string {
  switch (ev.kind) {
    case 'tick':
      return 'tick';
    case 'heard': {
      const r = ev.report;
      return `heard ${ev.path} gen ${ev.generation} seq ${ev.seq} ${r.status}${list('hold', r.hold)}${list('yield', r.yielding)}${list('failed', r.failed)}${list('standby', r.standby ?? [])}`;
    }
    case 'op-done':
      return `op-done ${ev.op} ${ev.group}#${ev.index} ${ev.ok ? 'ok' : 'FAILED'}`;
    case 'hold-failed':
      return `hold-failed ${ev.group} ${ev.held ? 'held' : 'free'}: ${ev.error}`;
    case 'generation':
      return `generation now ${ev.generation}`;
    case 'shutdown':
      return 'shutdown requested';
    case 'fence-done':
      return `fence-done #${ev.id} ${ev.ok ? 'ok' : 'FAILED'}`;
    case 'check-done':
      return `check-done device ${ev.device} ${ev.ok ? 'ok' : 'FAILED'}`;
    case 'operator':
      return `operator ${ev.op}`;
    case 'reconfigure':
      return `reconfigure ${ev.groups.map((g) => g.name).join(',')}`;
    case 'standby':
    case 'takeover':
      return `operator ${ev.kind} [${ev.which}] ${ev.groups.join(',')}`;
    case 'ask-heard':
      return `heard ask_resources gen ${ev.generation} seq ${ev.seq} rsc_hold=${ev.rscHold} info=${ev.info}`;
    case 'hb-heard':
      return `heard heartbeat ${ev.msg.type} gen ${ev.generation} seq ${ev.seq ?? '-'}`;
    case 'cleanup':
      return `operator cleanup ${ev.group}${ev.probe ? ` (probe: ${ev.probe})` : ''}`;
    case 'monitor-done':
      return `monitor-done ${ev.group}#${ev.index} ${ev.result} (token ${ev.token})`;
  }
}

function formatAction(a: EngineAction): string | undefined {
  switch (a.kind) {
    case 'send': {
      const s = a.status;
      return `send seq ${s.seq} ${s.status}${list('hold', s.hold)}${list('yield', s.yielding)}${list('failed', s.failed)}${list('standby', s.standby)}`;
    }
    case 'peer-up': return `peer-up gen ${a.generation}${a.restarted ? ' (restarted)' : ''}`;
    case 'peer-dead': return `peer-dead (${a.reason})`;
    case 'peer-report': return undefined;
    case 'late-heartbeat': return `late heartbeat ${Math.round(a.silentMs)}ms`;
    case 'path-up': return `path-up ${a.path}`;
    case 'path-down': return `path-down ${a.path}`;
    case 'persist-peer-generation': return `persist peer-gen ${a.generation}`;
    case 'dropped': return `dropped (${a.reason})`;
    case 'op': return `${a.op} ${a.group}#${a.index}`;
    case 'persist-hold': return `persist ${a.group} ${a.held ? 'held' : 'free'}`;
    case 'announce': return undefined;
    case 'group-phase': return `${a.group}:${a.phase}`;
    case 'alert': return `ALERT ${a.group}`;
    case 'group-retired': return `${a.group}:${a.replaced ? 'replaced' : 'removed'}`;
    case 'released': return 'released';
    case 'fence': return `fence #${a.id} ${a.target} via device ${a.device}`;
    case 'check': return `check device ${a.device}`;
    case 'record': return `record fence ${a.entry.target}: ${a.entry.result}`;
    case 'may-take-over': return `may take over (${a.reason})`;
    case 'fence-alert': return 'FENCE ALERT';
    case 'fence-log': return undefined;
    case 'quorum-changed': return `quorum ${a.changed.map((d) => `${d.group}:${d.code}`).join(',')}`;
    case 'ask': return `ask_resources seq ${a.seq} rsc_hold=${a.rscHold} info=${a.info}`;
    case 'handover-log': return undefined;
    case 'ask-ignored': return 'ask ignored';
    case 'monitor': return `monitor ${a.group}#${a.index}`;
    case 'monitor-failed': return `MONITOR FAILED ${a.group}#${a.index} ${a.result} ${a.count}/${a.threshold} ${a.action}`;
    case 'hb-send': return `heartbeat ${a.msg.type}${a.seq !== undefined ? ` seq ${a.seq}` : ''}`;
    case 'hb-rexmit': return `resend ${a.first}..${a.last}`;
  }
}

export function formatEntry(e: TraceEntry): string {
  let s = `${String(e.t).padStart(9)} ${e.who.padEnd(5)} `;
  if (e.note !== undefined) s += e.note;
  if (e.ev) s += formatEvent(e.ev);
  if (e.acts) {
    const parts: string[] = [];
    for (const a of e.acts) {
      const f = formatAction(a);
      if (f !== undefined) parts.push(f);
    }
    if (parts.length) s += ` => ${parts.join('; ')}`;
  }
  return s;
}

/** The last `size` entries, oldest first. */
export class Ring {
  private buf: TraceEntry[] = [];
  private next = 0;

  constructor(private readonly size: number) {}

  push(e: TraceEntry): void {
    if (this.size <= 0) return;
    if (this.buf.length < this.size) this.buf.push(e);
    else this.buf[this.next] = e;
    this.next = (this.next + 1) % this.size;
  }

  entries(): TraceEntry[] {
    if (this.buf.length < this.size) return [...this.buf];
    return [...this.buf.slice(this.next), ...this.buf.slice(0, this.next)];
  }
}

/** 64-bit FNV-1a over the lines, as two independent 32-bit halves. */
export class TraceHash {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193 ^ 0x5bd1e995;

  add(line: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 13);
    }
    this.h1 = Math.imul(h1 ^ 10, 0x01000193);
    this.h2 = Math.imul(h2 ^ 10, 0x01000193);
  }

  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}
