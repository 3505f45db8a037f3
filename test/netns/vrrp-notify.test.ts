// keepalived's notify scripts run by tandem (issue 14): two tandem nodes A
// (priority 150) and B (100) joined by eth0 (10.244.1.0/24), one instance
// VI_N with a VIP, every notify keyword pointing at one script that logs
// what ran with a timestamp (epoch ms). notify_master sleeps 2 s, as one
// that restarts a service would: the takeover's gratuitous ARPs must not
// wait for it (keepalived forks its scripts and announces at once). The
// scripts of one instance run in the order its transitions happened, and a
// graceful stop waits for the stop scripts before the daemon exits; the
// generic notify gets keepalived's arguments (INSTANCE NAME STATE PRIORITY,
// STOP on a stop).

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capture } from '../helpers/capture.js';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, macOf, netnsName, nsExec, powerLossIn, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdvn';
const NS = { a: netnsName(PREFIX, 'a'), b: netnsName(PREFIX, 'b') } as const;
type Node = keyof typeof NS;
const WORK = `/tmp/tandem-vrrp-notify-${process.pid}`;
const VIP = '10.244.1.100';
const PRIO = { a: 150, b: 100 } as const;
const MASTER_SLEEP_S = 2;
const STOP_SLEEP_S = 0.5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const path = (who: Node, f: string) => join(WORK, `${who}.${f}`);

/**
 * One script for every notify keyword; $1 says which. The state scripts
 * write to WHO.states, the generic notify its arguments to WHO.notify.
 * notify_stop sleeps a little too: a daemon that exited without waiting
 * for it would leave its line (and the generic STOP after it) unwritten.
 */
function script(who: Node): string {
  return [
    '#!/bin/sh',
    '# written by test/netns/vrrp-notify.test.ts',
    'ms() { date +%s%3N; }',
    `states=${path(who, 'states')}`,
    'what=$1; shift',
    'case "$what" in',
    `  master) echo "MASTER start $(ms)" >> "$states"; sleep ${MASTER_SLEEP_S}; echo "MASTER end $(ms)" >> "$states" ;;`,
    '  backup) echo "BACKUP $(ms)" >> "$states" ;;',
    '  fault) echo "FAULT $(ms)" >> "$states" ;;',
    `  stop) sleep ${STOP_SLEEP_S}; echo "STOP $(ms)" >> "$states" ;;`,
    `  any) echo "$* $(ms)" >> ${path(who, 'notify')} ;;`,
    '  *) exit 2 ;;',
    'esac',
    '',
  ].join('\n');
}

function conf(who: Node): string {
  const sh = path(who, 'note.sh');
  return [
    '! written by test/netns/vrrp-notify.test.ts',
    // Scripts are checked as keepalived checks them; root, to write into the root-owned work dir.
    'global_defs {', `    router_id ${who}`, '    vrrp_version 3', '    enable_script_security', '    script_user root', '}',
    'vrrp_instance VI_N {', '    interface eth0', '    virtual_router_id 91', `    priority ${PRIO[who]}`, '    advert_int 0.1',
    `    notify_master "${sh} master"`,
    `    notify_backup "${sh} backup"`,
    `    notify_fault "${sh} fault"`,
    `    notify_stop "${sh} stop"`,
    `    notify "${sh} any"`,
    '    virtual_ipaddress {', `        ${VIP}/24 dev eth0`, '    }', '}', '',
  ].join('\n');
}

const procs: Partial<Record<Node, ChildProcess>> = {};

function start(who: Node): void {
  writeFileSync(path(who, 'note.sh'), script(who), { mode: 0o755 });
  chmodSync(path(who, 'note.sh'), 0o755);
  writeFileSync(path(who, 'conf'), conf(who));
  const log = openSync(path(who, 'log'), 'a');
  procs[who] = spawn('ip', ['netns', 'exec', NS[who], process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', path(who, 'conf'), '--run-dir', join(WORK, `run-${who}`)],
    { stdio: ['ignore', log, log] });
  closeSync(log);
}

/** Lines of a node's file, the trailing timestamp apart: `{ text: 'MASTER start', ms }`. */
function lines(who: Node, f: 'states' | 'notify'): Array<{ text: string; ms: number }> {
  let t = '';
  try { t = readFileSync(path(who, f), 'utf8'); } catch { /* not written yet */ }
  return t.split('\n').filter(Boolean).map((l) => {
    const m = /^(.*) (\d{13})$/.exec(l);
    if (!m) throw new Error(`${path(who, f)}: unexpected line '${l}'`);
    return { text: m[1]!, ms: Number(m[2]) };
  });
}
const texts = (who: Node, f: 'states' | 'notify') => lines(who, f).map((l) => l.text);

const logs = () => (['a', 'b'] as const).map((w) => {
  const read = (f: string) => { try { return readFileSync(path(w, f), 'utf8'); } catch { return '(none)\n'; } };
  return `--- ${w} log\n${read('log')}--- ${w}.states\n${read('states')}--- ${w}.notify\n${read('notify')}`;
}).join('');

async function waitLine(who: Node, f: 'states' | 'notify', text: string, timeoutMs: number): Promise<{ text: string; ms: number }> {
  return waitFor(`${who}.${f}: '${text}'`, async () => lines(who, f).find((l) => l.text === text), timeoutMs, 20)
    .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
}

const holds = async (who: Node) => (await nsExec(NS[who], 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(` ${VIP}/24 `);

beforeAll(async () => {
  need('ip', 'tcpdump');
  await cleanupPrefix(PREFIX);
  rmSync(WORK, { recursive: true, force: true });
  // Root's, and not writable by others: enable_script_security checks the script and the directories above it.
  mkdirSync(WORK, { mode: 0o755 });
  chmodSync(WORK, 0o755);
  for (const ns of Object.values(NS)) await createNetns(ns);
  await createVeth({ ns: NS.a, ifname: 'eth0', cidr: '10.244.1.1/24' }, { ns: NS.b, ifname: 'eth0', cidr: '10.244.1.2/24' });
}, 30_000);

afterAll(async () => {
  for (const who of ['a', 'b'] as const) if (procs[who]) await powerLossIn(NS[who], who).catch(() => undefined);
  for (const ns of Object.values(NS)) await destroyNetns(ns);
  rmSync(WORK, { recursive: true, force: true });
});

// The cases follow one run of the pair: start, A's power loss, B's graceful stop.
describe.sequential('VRRP notify scripts (tandem on both nodes)', () => {
  it('at start each node runs its BACKUP scripts; A then MASTER, with its priority, in that order; B stays BACKUP', async () => {
    for (const who of ['a', 'b'] as const) {
      start(who);
      if (who === 'a') {
        // check-config accepts the notify lines (and their script security) as written.
        const cc = await nsExec(NS.a, process.execPath, [join(ROOT, 'bin/tandem'), 'check-config', '-f', path('a', 'conf')]).catch((e: Error) => ({ stdout: '', stderr: e.message }));
        expect(cc.stderr).toBe('');
        // A alone first: it is the master before B starts, so B never has a reason to be one.
        await waitLine('a', 'notify', `INSTANCE VI_N MASTER ${PRIO.a}`, 10_000);
      }
    }
    await waitLine('b', 'notify', `INSTANCE VI_N BACKUP ${PRIO.b}`, 10_000);
    await sleep(500);   // B has heard A's adverts for a while: nothing more may come
    expect(texts('a', 'states'), logs()).toEqual(['BACKUP', 'MASTER start', 'MASTER end']);
    expect(texts('a', 'notify'), logs()).toEqual([`INSTANCE VI_N BACKUP ${PRIO.a}`, `INSTANCE VI_N MASTER ${PRIO.a}`]);
    expect(texts('b', 'states'), logs()).toEqual(['BACKUP']);
    expect(texts('b', 'notify'), logs()).toEqual([`INSTANCE VI_N BACKUP ${PRIO.b}`]);
    // notify_STATE, then notify: one after the other, never overlapping.
    const [sa, na] = [lines('a', 'states'), lines('a', 'notify')];
    expect(na[1]!.ms).toBeGreaterThanOrEqual(sa[2]!.ms);
    expect(sa[2]!.ms - sa[1]!.ms).toBeGreaterThanOrEqual(MASTER_SLEEP_S * 1000);
    expect(await holds('a')).toBe(true);
    expect(await holds('b')).toBe(false);
  }, 30_000);

  it("on A's power loss B takes the VIP and announces it at once: its first gratuitous ARP goes out before its 2 s notify_master ends", async () => {
    const mac = await macOf(NS.b, 'eth0');
    // In B's namespace: A's power loss kills whatever runs in A's.
    const cap = await capture(NS.b, 'eth0', 'arp', ['-tt']);
    const lost = Date.now();
    await powerLossIn(NS.a, 'a');
    delete procs.a;
    await sh('ip', ['-n', NS.a, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']).catch(() => undefined);
    const end = await waitLine('b', 'states', 'MASTER end', 10_000);
    await waitLine('b', 'notify', `INSTANCE VI_N MASTER ${PRIO.b}`, 5000);
    // A little longer: an announce that waited for the scripts goes out just after them, and is then named with its time.
    await sleep(300);
    const pkts = await cap.stop();
    const start = lines('b', 'states').find((l) => l.text === 'MASTER start')!;
    // A gratuitous ARP: B's MAC, a request for the VIP from the VIP.
    const garps = pkts.filter((p) => p.includes(mac) && p.includes(`Request who-has ${VIP} tell ${VIP},`));
    expect(garps.length, `no gratuitous ARP for ${VIP} from ${mac}; captured:\n${pkts.join('\n')}\n${logs()}`).toBeGreaterThan(0);
    const garp = Math.round(Number(garps[0]!.split(' ')[0]) * 1000);
    expect(Number.isFinite(garp), garps[0]).toBe(true);
    console.log(`after A's power loss: notify_master started ${start.ms - lost} ms, first gratuitous ARP ${garp - lost} ms, notify_master ended ${end.ms - lost} ms (${garps.length} gratuitous ARPs captured)`);
    expect(garp, `first gratuitous ARP ${garp - lost} ms after the power loss, notify_master ended at ${end.ms - lost} ms\n${logs()}`).toBeLessThan(end.ms);
    expect(await holds('b')).toBe(true);
  }, 30_000);

  // What B's files held when its daemon exited (read by case 3, named by case 4).
  let atExit: { states: Array<{ text: string; ms: number }>; notify: Array<{ text: string; ms: number }> } | undefined;

  it("B's scripts ran in transition order (BACKUP, then MASTER); its graceful stop runs the stop scripts last, and the daemon exits only after them", async () => {
    expect(texts('b', 'states'), logs()).toEqual(['BACKUP', 'MASTER start', 'MASTER end']);
    expect(texts('b', 'notify'), logs()).toEqual([`INSTANCE VI_N BACKUP ${PRIO.b}`, `INSTANCE VI_N MASTER ${PRIO.b}`]);
    const p = procs.b!;
    const exited = new Promise<number>((r) => p.once('exit', () => r(Date.now())));
    const term = Date.now();
    p.kill('SIGTERM');
    const at = await exited;
    delete procs.b;
    // Read at the exit: a stop script the daemon left behind would write after it.
    const { states, notify } = atExit = { states: lines('b', 'states'), notify: lines('b', 'notify') };
    console.log(`graceful stop of B: exited ${at - term} ms after SIGTERM (notify_stop sleeps ${STOP_SLEEP_S * 1000} ms)`);
    expect(states.map((l) => l.text), logs()).toEqual(['BACKUP', 'MASTER start', 'MASTER end', 'STOP']);
    expect(notify.map((l) => l.text.replace(/ STOP\w* /, ' STOP* ')), logs()).toEqual([`INSTANCE VI_N BACKUP ${PRIO.b}`, `INSTANCE VI_N MASTER ${PRIO.b}`, `INSTANCE VI_N STOP* ${PRIO.b}`]);
    expect(notify[2]!.ms).toBeGreaterThanOrEqual(states[3]!.ms);
    expect(states[3]!.ms).toBeGreaterThanOrEqual(term + STOP_SLEEP_S * 1000);
    // The daemon's own teardown waited for them (its lock and netlink go after), not only the event loop of a finished daemon.
    const stopped = readFileSync(path('b', 'log'), 'utf8').split('\n').find((l) => / stopped$/.test(l));
    expect(stopped, logs()).toBeDefined();
    expect(Date.parse(stopped!.split(' ')[0]!), `'stopped' logged before the stop scripts ended\n${logs()}`).toBeGreaterThanOrEqual(notify[2]!.ms);
    expect(await holds('b')).toBe(false);
    // Nothing is still running in B's namespace (no script left behind).
    expect((await sh('ip', ['netns', 'pids', NS.b])).stdout.trim()).toBe('');
  }, 30_000);

  it("the generic notify names the stop STOP, as keepalived does (its man page: MASTER|BACKUP|FAULT|STOP|DELETED)", () => {
    expect(atExit, 'the graceful stop did not run').toBeDefined();
    expect(atExit!.notify.at(-1)?.text, logs()).toBe(`INSTANCE VI_N STOP ${PRIO.b}`);
  });
});
