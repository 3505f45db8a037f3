// tandem status as an operator reads it: whether a node is alive and whether
// it holds anything are two words, groups are named by their address rather
// than the whole first resource, and times over 10 s are in seconds.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/format.js';
import { groupLabel } from '../../src/config/haresources.js';
import { loadConfig } from '../../src/config/load.js';
import { buildStatusReport } from '../../src/daemon/status.js';
import { engineStep, initEngine } from '../../src/node/engine.js';
import { formatDuration } from '../../src/util/duration.js';

const dir = mkdtempSync(join(tmpdir(), 'tandem-status-wording-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const G = 'IPaddr2::10.213.1.100/24/eth0::arp_count=5::arp_interval=200';

describe('status wording', () => {
  it('a standby is "up standby", the holder "up active"; the group is named by its address; 30 s is not 30000 ms', () => {
    mkdirSync(join(dir, 'resource.d'));
    writeFileSync(join(dir, 'ha.cf'), 'keepalive 2\ndeadtime 30\ninitdead 60\nbcast lo\nnode alpha beta\n');
    writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 sha256 wording\n', { mode: 0o600 });
    writeFileSync(join(dir, 'haresources'), `alpha ${G}\n`);
    const { config, issues } = loadConfig(dir);
    expect(issues).toEqual([]);
    const engine = initEngine(
      { self: 'beta', peer: 'alpha', paths: ['bcast lo'], keepaliveMs: 2000, warntimeMs: 15_000, deadtimeMs: 30_000, initdeadMs: 60_000 },
      { self: 'beta', autoFailback: 'on', stopRetries: 1, stopRetryDelayMs: 100, groups: [{ name: G, preferredNode: 'alpha', resourceCount: 1 }], generation: 3 },
      0, { held: new Set() },
    );
    engineStep(engine, {
      kind: 'heard', path: 'bcast lo', src: 'alpha', generation: 5, seq: 1,
      report: { status: 'active', hold: [G], yielding: [], failed: [] },
    }, 10);
    const report = buildStatusReport({
      engine, config: config!, node: 'beta', peer: 'alpha', generation: 3, now: 12_500, startedWall: 0,
      drops: { auth: 0, malformed: 0, ignored: 0, own: 0, spoofed: 0, filtered: 0 }, sent: 1, received: 1, journal: [],
    });
    const text = formatStatus(report);
    expect(text).toMatch(/^ {2}beta +up +standby \(this node\) +holds: -$/m);
    expect(text).toMatch(/^ {2}alpha +up +active +last heard 12\.5 s ago +holds: 10\.213\.1\.100$/m);
    expect(text).toMatch(/^ {2}10\.213\.1\.100 +\(preferred alpha\)$/m);
    expect(text).toContain('timing: keepalive 2000 ms, deadtime 30 s,');
    // The whole spec appears once, where the resources are listed.
    expect(text.split('\n').filter((l) => l.includes('arp_count'))).toEqual([`    resources: ${G}`]);
    // JSON keeps the identity and adds the label.
    expect(report.groups[0]).toMatchObject({ name: G, label: '10.213.1.100' });
  });

  it('labels and durations', () => {
    expect(groupLabel('IPaddr::10.0.0.5')).toBe('10.0.0.5');
    expect(groupLabel('10.0.0.6')).toBe('10.0.0.6');
    expect(groupLabel('Filesystem::/dev/sdb1::/data')).toBe('Filesystem::/dev/sdb1::/data');
    expect(groupLabel('nginx')).toBe('nginx');
    expect([9_999, 10_000, 11_000, 12_345, 600_000].map(formatDuration)).toEqual(['9999 ms', '10 s', '11 s', '12.3 s', '10 min']);
  });
});
