// `tandem fence NODE`: fence by hand through the devices ha.cf configures
// for NODE, without the daemon. The devices used are the ones NODE's peer
// would use (stonith_host lines for `*` or the peer that target NODE), tried
// in ha.cf order until one succeeds, exactly as the daemon would.

import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { loadConfig, formatIssue } from '../config/load.js';
import { fence, fencingPolicyConfig, FenceHistory, type FenceAction, type FenceRecord, type FenceResult } from '../fencing/index.js';
import { StateStore } from '../state/store.js';
import { UserError } from '../util/errors.js';

export interface FenceOptions {
  config: string;
  target: string;
  action: FenceAction;
  stateDir: string;
  initDir: string;
  out: (s: string) => void;
}

/** Runs the fence; resolves true when a device confirmed it. Problems an operator can fix throw UserError. */
export async function fenceByHand(o: FenceOptions): Promise<boolean> {
  const { config, issues } = loadConfig(o.config, { initDir: o.initDir, checkMode: true });
  if (!config || issues.length) {
    for (const i of issues) process.stderr.write(formatIssue(i) + '\n');
    throw new UserError(`configuration in ${o.config} is not valid; nothing fenced`);
  }
  const h = config.hacf;
  if (!h.nodes.includes(o.target)) throw new UserError(`'${o.target}' is not a node of this pair (${h.nodes.join(', ')})`);
  if (!h.fencing) throw new UserError(`${h.file}: no stonith_host line: there is no device to fence ${o.target} with`);
  const shooter = h.nodes.find((n) => n !== o.target)!;
  const { devices } = fencingPolicyConfig(h.fencing, shooter, h.nodes);
  if (devices.length === 0) throw new UserError(`${h.file}: no stonith_host line lets ${shooter} fence ${o.target}`);

  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once('SIGINT', onInt);
  const results: FenceResult[] = [];
  try {
    for (const d of devices) {
      const r = await fence(d, o.action, ac.signal);
      results.push(r);
      o.out(`${r.device}: ${o.action} ${r.ok ? 'ok' : `FAILED: ${r.error ?? 'unknown error'}`}` +
        `${r.power ? `; power ${r.power}` : ''}${r.confirmedBy ? ` (confirmed by ${r.confirmedBy})` : ''} in ${r.durationMs} ms\n`);
      if (r.ok || ac.signal.aborted) break;
    }
  } finally {
    process.off('SIGINT', onInt);
  }
  const ok = results.some((r) => r.ok);
  if (o.action !== 'status') await record(o, shooter, results);
  return ok;
}

/**
 * Into the fencing history only when no daemon holds the state dir (LevelDB
 * allows one process); the daemon's history is then left alone and this is
 * said. A state dir that does not exist is not created.
 */
async function record(o: FenceOptions, shooter: string, results: FenceResult[]): Promise<void> {
  if (!existsSync(o.stateDir)) {
    o.out(`not recorded in the fencing history: ${o.stateDir} does not exist\n`);
    return;
  }
  let store: StateStore;
  try {
    store = await StateStore.open(o.stateDir);
  } catch (e) {
    o.out(`not recorded in the fencing history: ${(e as Error).message}\n`);
    return;
  }
  try {
    const hist = await FenceHistory.on(store.sublevel('fence'));
    const now = Date.now();
    for (const [i, r] of results.entries()) {
      const rec: FenceRecord = {
        at: new Date(now - r.durationMs).toISOString(), by: `${shooter} (tandem fence on ${hostname()})`,
        target: r.target, device: r.device, action: o.action, reason: 'fenced by hand (tandem fence)',
        result: r.ok ? 'ok' : 'failed', durationMs: r.durationMs, attempt: i + 1, ...(r.error ? { error: r.error } : {}),
      };
      await hist.append(rec);
    }
    o.out(`recorded in the fencing history in ${o.stateDir}\n`);
  } finally {
    await store.close();
  }
}
