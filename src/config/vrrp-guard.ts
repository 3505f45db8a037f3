// `vrrp_guard` in ha.cf (tandem extension): which VRRP units of the
// keepalived.conf given with -f may be MASTER only while the split-brain
// guard allows it (docs/vrrp.md, "The split-brain guard"). ha.cf alone can
// say which names and whether there is anything to guard with; whether the
// names exist is known only beside the keepalived.conf (resolveVrrpGuard),
// which `check-config -c DIR -f FILE` and `run -c DIR -f FILE` both call.

import type { ConfigIssue, HaCf, VrrpGuardSetting } from './types.js';
import { escapeControls } from './common.js';
import { applyKeywords, keywordNames, type AddIssue, type Directive, type KeywordTable } from './keywords.js';
import type { VrrpConfig } from '../vrrp/config.js';

export type { VrrpGuardSetting } from './types.js';

interface GuardState {
  add: AddIssue;
  all?: { line: number };
  names: Array<{ name: string; line: number }>;
}

const ALL = 'all';

/** ha.cf's vrrp_guard keyword. Lines accumulate; a unit named twice is a mistake a merge left behind. */
export const VRRP_GUARD_KEYWORDS: KeywordTable<GuardState> = [
  {
    name: 'vrrp_guard',
    apply(s, d) {
      if (d.args.length === 0) {
        s.add(d.line, `'vrrp_guard' needs the vrrp_instance or vrrp_sync_group names to guard, or 'all'`);
        return;
      }
      if (d.args.includes(ALL)) {
        if (d.args.length > 1) { s.add(d.line, `'vrrp_guard all' guards every unit and takes no names besides (got '${d.args.join(' ')}')`); return; }
        if (s.all) { s.add(d.line, `'vrrp_guard all' is already given at line ${s.all.line}`); return; }
        if (s.names.length) { s.add(d.line, `'vrrp_guard all' after names (line ${s.names[0]!.line}): say either all or names`); return; }
        s.all = { line: d.line };
        return;
      }
      if (s.all) { s.add(d.line, `vrrp_guard: 'vrrp_guard all' at line ${s.all.line} already guards every unit`); return; }
      for (const name of d.args) {
        const prev = s.names.find((n) => n.name === name);
        if (prev) { s.add(d.line, `vrrp_guard: ${name} is already given at line ${prev.line}`); continue; }
        s.names.push({ name, line: d.line });
      }
    },
  },
];

/** ha.cf directives this module parses. */
export const VRRP_GUARD_DIRECTIVES: ReadonlySet<string> = keywordNames(VRRP_GUARD_KEYWORDS);

/** The ha.cf directives that give the guard something to decide with. */
const GUARD_SOURCES: ReadonlySet<string> = new Set(['arbiter', 'ping', 'ping_group', 'stonith_host']);

/**
 * Every vrrp_guard line of one ha.cf. `others` are the file's other lines
 * (only their keywords are looked at): a guard needs a lease, ping nodes or
 * fencing, else it would hold its units in BACKUP for ever.
 */
export function parseVrrpGuard(lines: readonly Directive[], file: string, others: readonly Directive[]): { setting?: VrrpGuardSetting; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (lines.length === 0) return { issues };
  const add: AddIssue = (line, message) => { issues.push({ file, line, message: escapeControls(message) }); };
  const s: GuardState = { add, names: [] };
  applyKeywords(VRRP_GUARD_KEYWORDS, s, lines, add);
  if (!others.some((d) => GUARD_SOURCES.has(d.directive))) {
    add(lines[0]!.line, `vrrp_guard needs something to guard with: an arbiter, ping nodes or fencing (stonith_host) in ha.cf`);
  }
  if (issues.length) return { issues };
  return { setting: { ...(s.all ? { all: s.all } : {}), names: s.names }, issues };
}

/** One unit under the guard: a standalone vrrp_instance, or a vrrp_sync_group as a whole (one lease for its members). */
export interface VrrpGuardUnit {
  unit: string;
  kind: 'instance' | 'sync-group';
  /** The vrrp_instance names it covers: the instance itself, or the group's members. */
  members: string[];
  /** The ha.cf line that guards it. */
  line: number;
}

export interface VrrpGuardResolution {
  /** In vrrp_guard order; for `all`, the standalone instances then the sync groups, each in keepalived.conf order. */
  units: VrrpGuardUnit[];
  /** Each issue as `FILE:LINE: message` (FILE being ha.cf); empty when every name resolved. */
  problems: string[];
  /** The same problems, unformatted (for sorting with other files' issues). */
  issues: ConfigIssue[];
}

/**
 * ha.cf's vrrp_guard against the VRRP units of `kaFile` (the path given to
 * -f, as messages name it). Nothing to guard when ha.cf has no vrrp_guard line.
 */
export function resolveVrrpGuard(hacf: Pick<HaCf, 'file' | 'vrrpGuard'>, vrrp: VrrpConfig, kaFile: string): VrrpGuardResolution {
  const units: VrrpGuardUnit[] = [];
  const issues: ConfigIssue[] = [];
  const g = hacf.vrrpGuard;
  const add = (line: number, message: string): void => { issues.push({ file: hacf.file, line, message: escapeControls(message) }); };
  const unitOfGroup = (sg: VrrpConfig['syncGroups'][number], line: number): VrrpGuardUnit => ({ unit: sg.name, kind: 'sync-group', members: [...sg.members], line });
  if (g?.all) {
    for (const i of vrrp.instances) if (i.syncGroup === undefined) units.push({ unit: i.name, kind: 'instance', members: [i.name], line: g.all.line });
    for (const sg of vrrp.syncGroups) units.push(unitOfGroup(sg, g.all.line));
  }
  for (const { name, line } of g?.names ?? []) {
    const inst = vrrp.instances.find((i) => i.name === name);
    const group = vrrp.syncGroups.find((x) => x.name === name);
    // keepalived keeps instance and group names apart, so one name may be both.
    if (group && inst && inst.syncGroup !== group.name) {
      add(line, `vrrp_guard: ${name} is both a vrrp_instance (${inst.file}:${inst.line}) and a vrrp_sync_group (${group.file}:${group.line}) in ${kaFile}; rename one`);
    } else if (group) {
      units.push(unitOfGroup(group, line));
    } else if (inst?.syncGroup !== undefined) {
      add(line, `vrrp_guard: ${name} is a member of vrrp_sync_group ${inst.syncGroup}: guard the group (vrrp_guard ${inst.syncGroup})`);
    } else if (inst) {
      units.push({ unit: name, kind: 'instance', members: [name], line });
    } else {
      add(line, `vrrp_guard: no vrrp_instance or vrrp_sync_group ${name} in ${kaFile}`);
    }
  }
  return { units, problems: issues.map(formatLine), issues };
}

function formatLine(i: ConfigIssue): string {
  return i.line > 0 ? `${i.file}:${i.line}: ${i.message}` : `${i.file}: ${i.message}`;
}

/**
 * `check-config -c DIR` or `run -c DIR` without -f: the lines are valid but
 * guard nothing. One `FILE:LINE: warning: …` per vrrp_guard line.
 */
export function vrrpGuardWithoutFile(hacf: Pick<HaCf, 'file' | 'vrrpGuard'>): string[] {
  const g = hacf.vrrpGuard;
  if (!g) return [];
  const lines = [...new Set([...(g.all ? [g.all.line] : []), ...g.names.map((n) => n.line)])].sort((a, b) => a - b);
  return lines.map((line) => `${hacf.file}:${line}: warning: vrrp_guard has no effect without -f FILE (the keepalived.conf whose units it guards)`);
}
