// OCF agents with Debian's resource-agents (package resource-agents): the
// real Dummy agent's meta-data, start, monitor and stop, and haresources'
// op/meta syntax.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkAgentParams, resolveAgent } from '../../src/agents/index.js';
import { OcfAgent, parseOcfMetadata, parseOcfTime } from '../../src/agents/ocf.js';
import { parseHaResources } from '../../src/config/haresources.js';
import type { AgentContext } from '../../src/agents/types.js';

const DUMMY = '/usr/lib/ocf/resource.d/heartbeat/Dummy';
if (!existsSync(DUMMY)) throw new Error(`${DUMMY} missing: install the Debian package resource-agents`);

const root = mkdtempSync(join(tmpdir(), 'tdocf-unit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ctx: AgentContext = { configDir: root, initDir: join(root, 'init'), scriptTimeoutMs: 20_000, log: () => undefined };

function groups(text: string) {
  return parseHaResources(text, '/etc/ha.d/haresources', ['alpha', 'beta']);
}

describe('haresources: OCF agents, op and meta', () => {
  it('reads ocf:PROVIDER:TYPE with NAME=VALUE parameters, op and meta', () => {
    const r = groups('alpha ocf:heartbeat:Dummy::state=/run/x.state op monitor interval=2s timeout=5s op stop timeout=9s meta migration-threshold=2 failure-timeout=60s\n');
    expect(r.issues).toEqual([]);
    expect(r.groups![0]!.resources[0]).toEqual({
      spec: 'ocf:heartbeat:Dummy::state=/run/x.state', agent: 'ocf:heartbeat:Dummy', args: ['state=/run/x.state'],
      ops: { monitor: { intervalMs: 2000, timeoutMs: 5000 }, stop: { timeoutMs: 9000 } },
      meta: { migrationThreshold: 2, failureTimeoutMs: 60000 },
    });
  });

  it.each([
    ['alpha op monitor interval=2s', "'op' must follow the resource it applies to"],
    ['alpha svc op restart timeout=2s', "'op' needs an operation: start, stop or monitor (got 'restart'), e.g. op monitor interval=10s timeout=20s"],
    ['alpha svc op monitor period=2s', "op monitor: unknown setting 'period' (interval, timeout only)"],
    ['alpha svc op monitor interval=2s op monitor interval=3s', "op monitor is given twice for resource 'svc'"],
    ['alpha svc op monitor interval=soon', 'op monitor: interval=soon is not a time (e.g. 10s, 500ms, 2min; a bare number is seconds)'],
    ['alpha svc meta migration-threshold=0', "meta migration-threshold must be a whole number from 1 to 1000000 (got '0')"],
    ['alpha ocf:heartbeat:Dummy::/run/x', "resource 'ocf:heartbeat:Dummy::/run/x': OCF agents take NAME=VALUE parameters, not '/run/x'"],
    ['alpha ocf:Dummy', "resource agent 'ocf:Dummy' must be ocf:PROVIDER:TYPE, e.g. ocf:heartbeat:nginx"],
  ])('refuses %s', (line, message) => {
    expect(groups(`${line}\n`).issues).toEqual([{ file: '/etc/ha.d/haresources', line: 1, message }]);
  });
});

describe('OCF meta-data', () => {
  it('times in Pacemaker forms', () => {
    expect([parseOcfTime('20s'), parseOcfTime('2min'), parseOcfTime('500ms'), parseOcfTime('7'), parseOcfTime('x')]).toEqual([20000, 120000, 500, 7000, undefined]);
  });

  it('Dummy: parameters and action timeouts from the real agent', async () => {
    const a = new OcfAgent({ spec: 'ocf:heartbeat:Dummy', agent: 'ocf:heartbeat:Dummy', args: [] }, ctx, { provider: 'heartbeat', type: 'Dummy', named: [], positional: [] });
    await a.prepare();
    expect(a.defaults()).toEqual({ startTimeoutMs: 20000, stopTimeoutMs: 20000, monitor: { intervalMs: 10000, timeoutMs: 20000 } });
    expect(a.paramProblems()).toEqual([]);
  });

  it('required parameters', () => {
    const meta = parseOcfMetadata('<resource-agent name="x"><parameters><parameter name="a" required="1"><content type="string"/></parameter></parameters><actions><action name="start" timeout="5s"/></actions></resource-agent>');
    expect(meta).toEqual({ name: 'x', parameters: [{ name: 'a', required: true }], actions: { start: { timeoutMs: 5000 } } });
  });

  it('check-config: unknown and missing required parameters as FILE:LINE', async () => {
    const r = groups('alpha ocf:heartbeat:Dummy::colour=red\nbeta ocf:heartbeat:IPaddr2::cidr_netmask=24\n');
    const issues = await checkAgentParams(r.groups!, '/etc/ha.d/haresources', ctx);
    expect(issues).toEqual([
      { file: '/etc/ha.d/haresources', line: 1, message: "resource 'ocf:heartbeat:Dummy::colour=red': ocf:heartbeat:Dummy has no parameter 'colour' (its parameters: state, fake)" },
      { file: '/etc/ha.d/haresources', line: 2, message: "resource 'ocf:heartbeat:IPaddr2::cidr_netmask=24': ocf:heartbeat:IPaddr2 needs parameter 'ip' (required by its meta-data)" },
    ]);
  });

  it("Heartbeat's TYPE::arg runs the OCF agent when no script has that name", () => {
    expect(resolveAgent({ spec: 'Dummy::/run/d.state', agent: 'Dummy', args: ['/run/d.state'] }, ctx))
      .toEqual({ kind: 'ocf', target: { provider: 'heartbeat', type: 'Dummy', named: [], positional: ['/run/d.state'] } });
  });
});

describe('OCF actions (real Dummy)', () => {
  it('start, monitor (0), stop, monitor (7), with positional arguments mapped to meta-data order', async () => {
    const state = join(root, 'dummy.state');
    const r = { spec: `Dummy::${state}`, agent: 'Dummy', args: [state] };
    const kind = resolveAgent(r, ctx);
    if (kind.kind !== 'ocf') throw new Error('not resolved to OCF');
    const a = new OcfAgent(r, ctx, kind.target);
    await a.start();
    expect(existsSync(state)).toBe(true);
    expect(await a.monitor(5000)).toEqual({ result: 'running', rc: 0, detail: 'OCF_SUCCESS' });
    await a.stop();
    expect(existsSync(state)).toBe(false);
    expect((await a.monitor(5000)).result).toBe('not-running');
    await a.stop();   // stopping a stopped resource succeeds
    expect(await a.validate()).toEqual({ ok: true, detail: 'valid' });
  });
});
