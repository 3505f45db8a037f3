// A daemon run under V8's profiler (node --cpu-prof) keeps SIGPROF for the
// profiler: a listener would take the signal, and removing it at exit would
// restore the default action and kill the process before the profile is written.

import { afterEach, describe, expect, it } from 'vitest';
import { DAEMON_SIGNALS, installSignals } from '../../src/daemon/signals.js';

const noop = { shutdown: () => undefined, reload: () => undefined, debug: () => undefined, ignored: () => undefined };
const argv = [...process.execArgv];
afterEach(() => { process.execArgv.splice(0, process.execArgv.length, ...argv); });

describe('SIGPROF and the profiler', () => {
  it('is caught (ignored) normally, and left to the profiler under --cpu-prof', () => {
    const before = process.listenerCount('SIGPROF');
    let remove = installSignals(DAEMON_SIGNALS, noop);
    expect(process.listenerCount('SIGPROF')).toBe(before + 1);
    remove();
    process.execArgv.push('--cpu-prof');
    remove = installSignals(DAEMON_SIGNALS, noop);
    expect(process.listenerCount('SIGPROF')).toBe(before);
    expect(process.listenerCount('SIGTERM')).toBeGreaterThan(0);
    remove();
  });
});
