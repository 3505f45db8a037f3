// Reading systemd's notification variables (sd_notify(3), sd_watchdog_enabled(3)).
// The datagrams themselves are tested against a real socket in test/netns/systemd.test.ts.

import { describe, expect, it } from 'vitest';
import { SdNotify } from '../../src/daemon/sdnotify.js';

describe('SdNotify.fromEnv', () => {
  it('takes the socket and half of WATCHDOG_USEC, and removes the variables so scripts do not inherit them', () => {
    const env: Record<string, string | undefined> = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '10000000', WATCHDOG_PID: '42', OTHER: 'x' };
    const errors: string[] = [];
    const sd = SdNotify.fromEnv(env, 42, (m) => errors.push(m));
    expect(sd?.address).toBe('/run/systemd/notify');
    expect(sd?.watchdogIntervalMs).toBe(5000);
    expect(env).toEqual({ OTHER: 'x' });
    expect(errors).toEqual([]);
  });

  it('no watchdog when WATCHDOG_PID names another process, or without WATCHDOG_USEC', () => {
    expect(SdNotify.fromEnv({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '7' }, 42, () => undefined)?.watchdogIntervalMs).toBeUndefined();
    expect(SdNotify.fromEnv({ NOTIFY_SOCKET: '@x' }, 42, () => undefined)?.watchdogIntervalMs).toBeUndefined();
    expect(SdNotify.fromEnv({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: 'junk' }, 42, () => undefined)?.watchdogIntervalMs).toBeUndefined();
  });

  it('nothing without NOTIFY_SOCKET; a relative address is reported, not used', () => {
    expect(SdNotify.fromEnv({}, 1, () => undefined)).toBeUndefined();
    const errors: string[] = [];
    expect(SdNotify.fromEnv({ NOTIFY_SOCKET: 'relative' }, 1, (m) => errors.push(m))).toBeUndefined();
    expect(errors).toEqual([`NOTIFY_SOCKET 'relative' is neither a path nor an abstract '@' address: not notifying systemd`]);
  });

  it('a socket that is gone is reported once, not on every watchdog tick', () => {
    const errors: string[] = [];
    const sd = SdNotify.fromEnv({ NOTIFY_SOCKET: '/nonexistent/notify', WATCHDOG_USEC: '2000' }, 1, (m) => errors.push(m))!;
    for (let t = 0; t < 10; t++) sd.tick(t * 10);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/WATCHDOG=1\) to \/nonexistent\/notify failed: sendto\(NOTIFY_SOCKET\): No such file or directory/);
  });
});
