// systemd's notification protocol (sd_notify(3)) for Type=notify units:
// READY=1 once the daemon runs, STOPPING=1 when it starts releasing its
// groups, WATCHDOG=1 from the heartbeat timer. Node's dgram cannot send to a
// unix datagram socket, so the native addon does the sendto.

import native from 'tandem-native';

export interface NotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
}

export class SdNotify {
  /** Half of WatchdogSec (systemd's advice), or undefined when no watchdog is asked for. */
  readonly watchdogIntervalMs: number | undefined;
  private nextPing = -Infinity;
  private failed = false;

  private constructor(readonly address: string, watchdogUsec: number | undefined, private readonly onError: (msg: string) => void) {
    this.watchdogIntervalMs = watchdogUsec === undefined ? undefined : watchdogUsec / 2000;
  }

  /**
   * Reads and removes the variables (resource scripts must not inherit
   * them: the socket is the daemon's). Undefined when not run by systemd.
   */
  static fromEnv(env: NotifyEnv, pid: number, onError: (msg: string) => void): SdNotify | undefined {
    const address = env.NOTIFY_SOCKET;
    const usec = Number(env.WATCHDOG_USEC);
    const wpid = env.WATCHDOG_PID === undefined ? pid : Number(env.WATCHDOG_PID);
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (!address) return undefined;
    if (address[0] !== '/' && address[0] !== '@') {
      onError(`NOTIFY_SOCKET '${address}' is neither a path nor an abstract '@' address: not notifying systemd`);
      return undefined;
    }
    // WATCHDOG_PID names the process the watchdog is meant for (sd_watchdog_enabled(3)).
    const watch = Number.isSafeInteger(usec) && usec > 0 && wpid === pid ? usec : undefined;
    return new SdNotify(address, watch, onError);
  }

  send(state: string): void {
    try {
      native.sdNotify(this.address, state);
    } catch (e) {
      // Once: a notification socket that went away must not flood the log from the heartbeat timer.
      if (!this.failed) this.onError(`systemd notification (${state.split('\n')[0]}) to ${this.address} failed: ${(e as Error).message}`);
      this.failed = true;
    }
  }

  /**
   * Called on every heartbeat timer tick: a comparison, and a datagram once
   * per half WatchdogSec. A loop that stops ticking stops pinging, and
   * systemd restarts the daemon.
   */
  tick(now: number): void {
    if (this.watchdogIntervalMs === undefined || now < this.nextPing) return;
    // Anchored to the previous deadline, so a late tick does not push every
    // later ping back (under load the gaps grew to 1.4-1.8 intervals); never
    // closer together than half an interval.
    const anchored = Number.isFinite(this.nextPing) ? this.nextPing + this.watchdogIntervalMs : now + this.watchdogIntervalMs;
    this.nextPing = Math.max(anchored, now + this.watchdogIntervalMs / 2);
    this.send('WATCHDOG=1');
  }
}
