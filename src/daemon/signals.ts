// What each signal means to a running daemon or arbiter. Every signal whose
// default action would end the process is either given a meaning or caught
// and logged: a daemon that dies without releasing leaves its VIPs up while
// the peer takes them over (both hold them), and Node's own SIGUSR1 handler
// opens an unauthenticated inspector (bin/tandem replaces it first thing).
//
// Left at their defaults, on purpose: SIGKILL and SIGSTOP (cannot be caught),
// SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (a real fault: carrying on
// would run a corrupted process; the peer takes over as after kill -9).
// The real-time signals, which Node cannot listen to, get a do-nothing
// handler from the addon: ignored, and reset to the default for children.

import native from 'tandem-native';

export type SignalMeaning = 'shutdown' | 'reload' | 'debug-up' | 'debug-down' | 'ignore';

/** Heartbeat's meanings: TERM/INT stop gracefully, HUP reloads, USR1/USR2 raise/lower the debug level. */
export const DAEMON_SIGNALS: Readonly<Record<string, SignalMeaning>> = {
  SIGTERM: 'shutdown',
  SIGINT: 'shutdown',
  // An operator's "quit" is a stop, and a stop releases what it holds.
  SIGQUIT: 'shutdown',
  SIGHUP: 'reload',
  SIGUSR1: 'debug-up',
  SIGUSR2: 'debug-down',
  // Their default action ends (or, for the tty ones, stops) the process.
  SIGPIPE: 'ignore',
  SIGALRM: 'ignore',
  SIGVTALRM: 'ignore',
  SIGPROF: 'ignore',
  SIGIO: 'ignore',
  SIGPWR: 'ignore',
  SIGSTKFLT: 'ignore',
  SIGXCPU: 'ignore',
  SIGXFSZ: 'ignore',
  SIGSYS: 'ignore',
  SIGTRAP: 'ignore',
  // A stopped daemon looks dead to its peer, which takes its groups over
  // while they stay up here: ^Z on a daemon in a terminal must not do that.
  SIGTSTP: 'ignore',
  SIGTTIN: 'ignore',
  SIGTTOU: 'ignore',
};

export interface SignalHandlers {
  shutdown(sig: string): void;
  reload(sig: string): void;
  debug(delta: 1 | -1, sig: string): void;
  ignored(sig: string): void;
}

/**
 * V8's sampling profiler (`node --cpu-prof`, `--prof`) runs on SIGPROF: a
 * listener would take the signal from it, and removing the listener at exit
 * restores the default action, which kills the process before it writes the
 * profile.
 */
const profiling = (): boolean => process.execArgv.some((a) => /^--(cpu-prof|prof)(=|$|-)/.test(a));

/**
 * Installs a listener for every signal in `table`; returns a function that
 * removes them again. A second shutdown signal while the first is still
 * releasing is the operator insisting: `insist` decides (the daemon exits
 * without waiting any longer).
 */
export function installSignals(table: Readonly<Record<string, SignalMeaning>>, h: SignalHandlers & { insist?(sig: string): void }): () => void {
  let shutdowns = 0;
  native.catchRealtimeSignals();
  const listeners: Array<[string, () => void]> = [];
  for (const [sig, meaning] of Object.entries(table)) {
    if (sig === 'SIGPROF' && profiling()) continue;
    const fn = (): void => {
      switch (meaning) {
        case 'shutdown':
          shutdowns += 1;
          if (shutdowns > 1 && h.insist) h.insist(sig);
          else h.shutdown(sig);
          return;
        case 'reload': h.reload(sig); return;
        case 'debug-up': h.debug(1, sig); return;
        case 'debug-down': h.debug(-1, sig); return;
        case 'ignore': h.ignored(sig); return;
      }
    };
    try {
      process.on(sig as NodeJS.Signals, fn);
      listeners.push([sig, fn]);
    } catch {
      // A signal this platform does not have (e.g. SIGSTKFLT off Linux).
    }
  }
  return () => { for (const [sig, fn] of listeners) process.off(sig as NodeJS.Signals, fn); };
}

/** The debug level after one USR1 (+1) or USR2 (-1): Heartbeat's 0..255. */
export function nextDebugLevel(level: number, delta: 1 | -1): number {
  return Math.max(0, Math.min(255, level + delta));
}
