// Operator-facing log: one line per event to stderr (the daemon runs in the
// foreground under systemd or a terminal), plus the files and syslog
// facility ha.cf names.

import { appendFileSync, fstatSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

export type Level = 'error' | 'warn' | 'info' | 'debug';

const SYSLOG_SEVERITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const FACILITY: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10,
  ftp: 11, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

export interface LogOptions {
  node: string;
  debug?: boolean;
  logfile?: string | undefined;
  debugfile?: string | undefined;
  logfacility?: string | undefined;
  stderr?: boolean;
  /** `<N>` syslog priority prefixes on stderr lines, for journald; default: stderrIsJournal(). */
  priorityPrefix?: boolean;
}

/**
 * True when stderr is systemd's journal stream (JOURNAL_STREAM names its
 * device:inode, systemd.exec(5)), or when TANDEM_LOG_PREFIX=1 asks for the
 * prefixes anyway (TANDEM_LOG_PREFIX=0: never).
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.TANDEM_LOG_PREFIX === '1') return true;
  if (env.TANDEM_LOG_PREFIX === '0' || !env.JOURNAL_STREAM) return false;
  try {
    const st = fstatSync(2);
    return env.JOURNAL_STREAM === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export class Logger {
  private syslog?: ChildProcess;
  private fileErrorReported = false;
  private readonly prefix: boolean;

  constructor(private opts: LogOptions) {
    this.prefix = opts.priorityPrefix ?? stderrIsJournal();
    const fac = opts.logfacility;
    if (fac && fac !== 'none' && FACILITY[fac] !== undefined) {
      // util-linux logger reads "<PRI>message" lines, so one long-lived child
      // carries every severity without a socket of our own to /dev/log.
      const child = spawn('logger', ['--prio-prefix', '-t', `tandem[${process.pid}]`], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', (e) => this.emit('warn', `syslog via logger(1) unavailable: ${e.message}`, false));
      child.stdin?.on('error', () => undefined);
      child.unref();
      this.syslog = child;
    }
  }

  error(msg: string): void { this.emit('error', msg); }
  warn(msg: string): void { this.emit('warn', msg); }
  info(msg: string): void { this.emit('info', msg); }
  debug(msg: string): void { this.emit('debug', msg); }
  log(level: Level, msg: string): void { this.emit(level, msg); }

  private emit(level: Level, msg: string, toSyslog = true): void {
    const line = `${new Date().toISOString()} ${this.opts.node} ${level.toUpperCase().padEnd(5)} ${msg}`;
    if (level === 'debug') {
      if (this.opts.debugfile) this.append(this.opts.debugfile, line);
      if (!this.opts.debug) return;
    }
    // journald stamps its own time and reads the priority from `<N>`: no second timestamp there, and one
    // line per message (a continuation line would get the default priority, or a `<N>` of its own).
    if (this.opts.stderr !== false) {
      process.stderr.write(this.prefix ? `<${SYSLOG_SEVERITY[level]}>${line.slice(line.indexOf(' ') + 1).replace(/[\r\n]+/g, ' ')}\n` : line + '\n');
    }
    if (this.opts.logfile) this.append(this.opts.logfile, line);
    if (toSyslog && this.syslog?.stdin?.writable) {
      const pri = FACILITY[this.opts.logfacility!]! * 8 + SYSLOG_SEVERITY[level];
      this.syslog.stdin.write(`<${pri}>${msg.replace(/\n/g, ' ')}\n`);
    }
  }

  private append(file: string, line: string): void {
    try {
      appendFileSync(file, line + '\n');
    } catch (e) {
      if (!this.fileErrorReported) {
        this.fileErrorReported = true;
        process.stderr.write(`cannot write log file ${file}: ${(e as Error).message}\n`);
      }
    }
  }

  close(): void {
    this.syslog?.stdin?.end();
  }
}
