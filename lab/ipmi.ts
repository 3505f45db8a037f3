// A simulated power switch per lab node: OpenIPMI's ipmi_sim (Debian package
// openipmi) answering IPMI-over-LAN like a node's BMC. Its lan.conf points
// chassis_control at a small script of ours, which ipmi_sim runs
// synchronously for every chassis command: "get power" reads a state file,
// "set power 0" runs the node's power-off command (e.g. kill everything in
// the node's namespace and down its link) before ipmi_sim replies. So when
// `ipmitool chassis power off` returns, the node is already dead, as with a
// real switch.
//
// Cipher suite 3 is the one to use: ipmi_sim does not implement "Get Channel
// Cipher Suites", so ipmitool without -C waits 10 s for that first.

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, sleep, waitFor } from './sh.js';

export interface IpmiSimOptions {
  /** Names the simulator in its config and logs. */
  name: string;
  /** Work directory (config, state, event log); created, and removed by stop(). */
  dir: string;
  /** Address to listen on; default 127.0.0.1. */
  addr?: string;
  /** UDP port; default 623 inside a namespace, else a free port on the address. */
  port?: number;
  /** Run ipmi_sim (and so its hooks) inside this network namespace. */
  netns?: string;
  user?: string;
  password?: string;
  /** `sh -c` command run on every on->off transition, before the IPMI reply. */
  onPowerOff?: string;
  /** `sh -c` command run on every off->on transition. */
  onPowerOn?: string;
  /** Initial power state; default on. */
  power?: 'on' | 'off';
  /** Kill a hook after this long (the BMC is blocked while a hook runs); default 10 s. */
  hookTimeoutMs?: number;
}

export class IpmiSim {
  readonly addr: string;
  readonly port: number;
  readonly user: string;
  /** Mode 0600 file with the password, for ipmitool -f and tandem's passfile=. */
  readonly passfile: string;
  private proc?: ChildProcess;

  private constructor(private readonly o: IpmiSimOptions & { addr: string; port: number; user: string; password: string }) {
    this.addr = o.addr;
    this.port = o.port;
    this.user = o.user;
    this.passfile = join(o.dir, 'password');
  }

  /** Writes the configuration, starts ipmi_sim and waits until it answers. */
  static async start(opts: IpmiSimOptions): Promise<IpmiSim> {
    const addr = opts.addr ?? '127.0.0.1';
    const port = opts.port ?? (opts.netns ? 623 : await freeUdpPort(addr));
    const sim = new IpmiSim({ ...opts, addr, port, user: opts.user ?? 'admin', password: opts.password ?? 'tdf-lab-secret' });
    try {
      sim.writeFiles();
      await sim.launch();
    } catch (e) {
      await sim.stop();
      throw e;
    }
    return sim;
  }

  get dir(): string { return this.o.dir; }
  get netns(): string | undefined { return this.o.netns; }

  /** Parameters for a tandem `stonith_host ... ipmi` line fencing `target` through this switch. */
  stonithParams(target: string, extra: string[] = []): string[] {
    return [`target=${target}`, `host=${this.addr}`, `port=${this.port}`, `user=${this.user}`, `passfile=${this.passfile}`, 'cipher=3', ...extra];
  }

  /** The power state as the switch holds it (read from its state file, not over IPMI). */
  power(): 'on' | 'off' {
    return readFileSync(join(this.o.dir, 'power'), 'utf8').trim() === '0' ? 'off' : 'on';
  }

  /** Sets the power state without running hooks (e.g. after a test restarted the node itself). */
  setPower(p: 'on' | 'off'): void {
    writeFileSync(join(this.o.dir, 'power'), p === 'on' ? '1\n' : '0\n');
  }

  /** The hook's event log: one line per chassis command and hook run. */
  events(): string[] {
    try {
      return readFileSync(join(this.o.dir, 'events'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  /** Runs ipmitool against the switch (in its namespace when it has one); resolves stdout. */
  async ipmitool(...args: string[]): Promise<string> {
    const base = ['-I', 'lanplus', '-C', '3', '-H', this.addr, '-p', String(this.port), '-U', this.user, '-f', this.passfile, '-N', '1', '-R', '1', ...args];
    return this.o.netns ? sh('ip', ['netns', 'exec', this.o.netns, 'ipmitool', ...base]) : sh('ipmitool', base);
  }

  /** SIGSTOP: the BMC stops answering, like a hung or unreachable one. */
  freeze(): void { this.signal('SIGSTOP'); }
  thaw(): void { this.signal('SIGCONT'); }

  get pid(): number | undefined { return this.proc?.pid; }

  /** Stops ipmi_sim (its whole process group, hooks included) and removes the work directory. Idempotent. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      try { process.kill(-p.pid, 'SIGCONT'); } catch { /* gone */ }
      try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.race([exited, sleep(3000)]);
    }
    rmSync(this.o.dir, { recursive: true, force: true });
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.proc?.pid === undefined) throw new Error(`ipmi_sim ${this.o.name} is not running`);
    process.kill(this.proc.pid, sig);
  }

  private writeFiles(): void {
    const { dir, name } = this.o;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 });
    writeFileSync(this.passfile, `${this.o.password}\n`, { mode: 0o600 });
    chmodSync(this.passfile, 0o600);
    writeFileSync(join(dir, 'power'), this.o.power === 'off' ? '0\n' : '1\n');
    writeFileSync(join(dir, 'on-off.sh'), `${this.o.onPowerOff ?? ':'}\n`);
    writeFileSync(join(dir, 'on-on.sh'), `${this.o.onPowerOn ?? ':'}\n`);
    const hookSecs = Math.max(1, Math.ceil((this.o.hookTimeoutMs ?? 10_000) / 1000));
    // ipmi_sim popen()s "PROG get power" and "PROG set power 0|1" (also
    // "set reset 1", "set shutdown 1", ...), and needs "power:N" back for get.
    writeFileSync(join(dir, 'chassis'), `#!/bin/sh
D='${dir}'
log() { echo "$(date +%s.%N) $*" >> "$D/events"; }
hook() {
  log "hook $1 start"
  BMC_ACTION=$1 BMC_PORT=${this.o.port} BMC_DIR="$D" timeout -s KILL ${hookSecs} sh "$D/on-$1.sh" >> "$D/events" 2>&1
  log "hook $1 done rc=$?"
}
power() { cat "$D/power" 2>/dev/null || echo 1; }
to_off() { if [ "$(power)" = 1 ]; then hook off; echo 0 > "$D/power"; log "POWER OFF"; fi; }
to_on() { if [ "$(power)" = 0 ]; then hook on; echo 1 > "$D/power"; log "POWER ON"; fi; }
v=$(echo "$3" | tr -d '"')
case "$1 $2" in
  "get power") echo "power:$(power)" ;;
  "set power") log "set power $v"; if [ "$v" = 0 ]; then to_off; else to_on; fi ;;
  "set reset") log "set reset"; to_off; to_on ;;
  "set shutdown") log "set shutdown"; to_off ;;
  *) log "ignored: $*" ;;
esac
exit 0
`, { mode: 0o755 });
    writeFileSync(join(dir, 'lan.conf'), `# written by tandem lab/ipmi.ts
name "${name}"
set_working_mc 0x20
  startlan 1
    addr ${this.o.addr} ${this.o.port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "${join(dir, 'chassis')}"
  user 1 true  ""  "unused" user 10 none md2 md5 straight
  user 2 true  "${this.o.user}"  "${this.o.password}" admin 10 none md2 md5 straight
`, { mode: 0o600 });
    writeFileSync(join(dir, 'bmc.emu'), [
      'mc_setbmc 0x20',
      'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr',
      'sel_enable 0x20 1000 0x0a',
      'mc_enable 0x20',
      '',
    ].join('\n'));
  }

  private async launch(): Promise<void> {
    const { dir, netns } = this.o;
    const args = ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'];
    const fd = openSync(join(dir, 'ipmi_sim.log'), 'a');
    // detached: its own process group, so stop() also ends a hook still running.
    // `ip netns exec` execs, so the pid is ipmi_sim's either way.
    this.proc = netns
      ? spawn('ip', ['netns', 'exec', netns, 'ipmi_sim', ...args], { stdio: ['ignore', fd, fd], detached: true })
      : spawn('ipmi_sim', args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    const proc = this.proc;
    let spawnError: Error | undefined;
    proc.once('error', (e) => { spawnError = e; });
    await waitFor(`ipmi_sim ${this.o.name} on ${this.o.addr}:${this.o.port} to answer`, async () => {
      if (spawnError) throw new Error(`cannot run ipmi_sim (Debian package openipmi): ${spawnError.message}`);
      if (proc.exitCode !== null) {
        const log = existsSync(join(dir, 'ipmi_sim.log')) ? readFileSync(join(dir, 'ipmi_sim.log'), 'utf8').trim() : '';
        throw new Error(`ipmi_sim exited with code ${proc.exitCode}: ${log.slice(-400)}`);
      }
      try {
        await this.ipmitool('mc', 'info');
        return true;
      } catch {
        return undefined;
      }
    }, 8000, 100);
  }
}

/** A UDP port nobody is bound to on `addr` right now. */
export function freeUdpPort(addr = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, addr, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
