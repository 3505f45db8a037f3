// Reads a configuration directory (ha.cf, authkeys, haresources), runs the
// parsers and the checks that need the filesystem, and returns either a
// complete Config or every issue found across all three files.

import { join } from 'node:path';

import { keyPolicyIssues, parseAuthKeys } from './authkeys.js';
import { errnoText } from './common.js';
import { checkAuthKeysMode, findExecutable, readRegularFile, trustedFileProblem, withoutPath } from './files.js';
import { parseHaCf } from './hacf.js';
import { BUILTIN_AGENTS, parseHaResources } from './haresources.js';
import type { Config, ConfigIssue, ResourceGroup } from './types.js';

export const DEFAULT_INIT_DIR = '/etc/init.d';
/** Where OCF resource agents live (resource-agents: /usr/lib/ocf/resource.d/PROVIDER/TYPE). */
export const DEFAULT_OCF_ROOT = '/usr/lib/ocf';

export interface LoadOptions {
  /** Where LSB init scripts live; searched after <dir>/resource.d. Default /etc/init.d. */
  initDir?: string;
  /** OCF_ROOT: a Heartbeat name found nowhere else may be $OCF_ROOT/resource.d/heartbeat/NAME. Default /usr/lib/ocf. */
  ocfRoot?: string;
  /**
   * Check ownership and modes (docs/configuration.md, "Who may change what
   * tandem trusts"): authkeys readable by root only; ha.cf, haresources,
   * resource scripts and the notify program, and every directory above
   * them, owned by root and not writable by others. Default true.
   */
  checkMode?: boolean;
}

export interface LoadResult {
  config?: Config;
  issues: ConfigIssue[];
}

function read(file: string, issues: ConfigIssue[]): Buffer | undefined {
  try {
    return readRegularFile(file);
  } catch (e) {
    issues.push({ file, line: 0, message: `cannot read: ${errnoText(e)}` });
    return undefined;
  }
}

export function loadConfig(dir: string, opts: LoadOptions = {}): LoadResult {
  const initDir = opts.initDir ?? DEFAULT_INIT_DIR;
  const issues: ConfigIssue[] = [];
  const hacfFile = join(dir, 'ha.cf');
  const authFile = join(dir, 'authkeys');
  const resFile = join(dir, 'haresources');

  const checkMode = opts.checkMode ?? true;
  // Whoever can change ha.cf or haresources decides what runs as root.
  const trusted = (file: string): void => {
    const problem = checkMode ? trustedFileProblem(file, 'config') : undefined;
    if (problem) issues.push({ file, line: 0, message: withoutPath(problem, file) });
  };

  const hacfText = read(hacfFile, issues);
  const hacf = hacfText ? parseHaCf(hacfText.toString('utf8'), hacfFile) : undefined;
  if (hacf) {
    issues.push(...hacf.issues);
    trusted(hacfFile);
    const notify = hacf.config?.notify;
    const problem = notify && checkMode ? trustedFileProblem(notify.command, 'script') : undefined;
    if (notify && problem) issues.push({ file: hacfFile, line: notify.line, message: `notify: ${problem}` });
  }

  const authText = read(authFile, issues);
  const auth = authText ? parseAuthKeys(authText, authFile) : undefined;
  if (auth) {
    issues.push(...auth.issues);
    // Needs ha.cf's verdict on the directive; with a broken ha.cf its own errors come first.
    if (auth.keys && hacf?.config && !hacf.config.allowInsecureAuthkeys) issues.push(...keyPolicyIssues(auth.keys, authFile, auth.keyLines));
    if (checkMode) {
      const modeIssue = checkAuthKeysMode(authFile);
      if (modeIssue) issues.push(modeIssue);
    }
  }

  const resText = read(resFile, issues);
  // Every problem in one run: preferred nodes are checked against ha.cf's
  // node lines even when other ha.cf lines are wrong (not when a node line
  // is), and the agents of every group that parsed are checked even when
  // other haresources lines are wrong.
  const res = resText ? parseHaResources(resText.toString('utf8'), resFile, hacf?.config?.nodes ?? hacf?.nodes) : undefined;
  if (res) {
    issues.push(...res.issues);
    trusted(resFile);
    issues.push(...checkScriptAgents(res.parsed, resFile, dir, initDir, checkMode, opts.ocfRoot ?? DEFAULT_OCF_ROOT));
  }

  const sorted = sortIssues(issues);
  if (sorted.length > 0 || !hacf?.config || !auth?.keys || !res?.groups) return { issues: sorted };
  return { config: { dir, hacf: hacf.config, authkeys: auth.keys, groups: res.groups }, issues: sorted };
}

/**
 * Heartbeat's ResourceManager runs <dir>/resource.d/<agent> if it is an
 * executable file, else <initDir>/<agent>. Checking now turns a takeover that
 * would fail at 3 a.m. into a startup error.
 */
function checkScriptAgents(
  groups: ResourceGroup[],
  file: string,
  dir: string,
  initDir: string,
  checkMode: boolean,
  ocfRoot: string,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const verdicts = new Map<string, string | undefined>();
  for (const group of groups) {
    const reported = new Set<string>();
    for (const { agent } of group.resources) {
      if (BUILTIN_AGENTS.has(agent) || reported.has(agent)) continue;
      // OCF agents (and Heartbeat names that resolve to one) and systemd
      // units are checked by the agents' own check, which reads meta-data.
      if (agent.startsWith('ocf:') || agent.startsWith('systemd:')) continue;
      if (!verdicts.has(agent)) verdicts.set(agent, scriptProblem(agent, dir, initDir, checkMode, ocfRoot));
      const problem = verdicts.get(agent);
      if (problem) {
        issues.push({ file, line: group.line, message: problem });
        reported.add(agent);
      }
    }
  }
  return issues;
}

function scriptProblem(agent: string, dir: string, initDir: string, checkMode: boolean, ocfRoot: string): string | undefined {
  const candidates = [join(dir, 'resource.d', agent), join(initDir, agent)];
  const found = findExecutable(candidates);
  if ('path' in found) {
    // It runs as root: whoever can change it, or a directory above it, is root.
    const problem = checkMode ? trustedFileProblem(found.path, 'script') : undefined;
    return problem ? `resource agent '${agent}' cannot be trusted: ${problem}` : undefined;
  }
  if (found.problems.length > 0) {
    const notes = found.problems.map((p) => (p.why === 'not-file' ? `${p.path} is not a regular file` : `${p.path} is not executable (chmod 755 ${p.path})`));
    return `resource agent '${agent}' cannot be run: ${notes.join('; ')}`;
  }
  const ocf = join(ocfRoot, 'resource.d', 'heartbeat', agent);
  const viaOcf = findExecutable([ocf]);
  if ('path' in viaOcf) {
    const problem = checkMode ? trustedFileProblem(viaOcf.path, 'script') : undefined;
    return problem ? `resource agent '${agent}' (OCF ${ocf}) cannot be trusted: ${problem}` : undefined;
  }
  return `resource agent '${agent}' not found: no ${candidates[0]}, ${candidates[1]} or ${ocf}`;
}

/** By file, then line; stable so same-line issues keep the parser's order. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

/** `FILE:LINE: message`, or `FILE: message` for whole-file issues (line 0). */
export function formatIssue(i: ConfigIssue): string {
  return i.line > 0 ? `${i.file}:${i.line}: ${i.message}` : `${i.file}: ${i.message}`;
}
