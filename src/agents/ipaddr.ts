// IPaddr / IPaddr2 / IPv6addr: the virtual IP of a resource group, as a thin
// client of the network core (src/net): this file only turns the haresources
// arguments into a VipSpec (forms in src/net/vip.ts) and names the owner
// (the group); placing, adding, announcing and the owner registry are the
// core's.

import type { Resource } from '../config/types.js';
import type { NetCore } from '../net/core.js';
import { parseVipArgs, type VipSpec } from '../net/vip.js';
import { UserError } from '../util/errors.js';
import type { AgentContext, MonitorOutcome, ResourceAgent, ResourceStatus } from './types.js';

export { DEFAULT_ARP_COUNT, DEFAULT_ARP_INTERVAL_MS } from '../net/vip.js';

export type IpAddrParams = VipSpec;

/** Validates the haresources arguments; throws a UserError naming the resource. */
export function parseIpAddrArgs(resource: Resource): IpAddrParams {
  const p = parseVipArgs(resource.agent, resource.args);
  if (typeof p === 'string') throw new UserError(`resource "${resource.spec}": ${p}`);
  return p;
}

export class IpAddrAgent implements ResourceAgent {
  private readonly params: IpAddrParams;
  private queue: Promise<unknown> = Promise.resolve();

  /** `owner` is who holds the address in the core's registry, e.g. "group 'IPaddr2::10.0.0.5'". */
  constructor(readonly resource: Resource, private readonly ctx: AgentContext, private readonly net: NetCore, private readonly owner: string) {
    this.params = parseIpAddrArgs(resource);
  }

  start(): Promise<void> {
    const { ip } = this.params;
    const example = `${this.resource.agent}::${this.params.family === 4 ? `${ip}/24/eth0` : `${ip}/64/eth0`}`;
    return this.serial(() => this.wrap(() => this.net.addVip(this.owner, this.params, this.log, example)));
  }

  stop(): Promise<void> {
    return this.serial(() => this.wrap(() => this.net.removeVip(this.owner, this.params, this.log)));
  }

  status(): Promise<ResourceStatus> {
    return this.serial(() => this.wrap(async () => ((await this.net.vipPresent(this.params)) ? 'running' : 'stopped')));
  }

  /** The address is on its interface: the network core's view, bounded by the monitor's timeout. */
  async monitor(timeoutMs: number): Promise<MonitorOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<MonitorOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ result: 'timeout', detail: `no answer from the network core within ${timeoutMs} ms` }), timeoutMs);
    });
    const check = this.status().then(
      (st): MonitorOutcome => (st === 'running' ? { result: 'running', detail: 'address present' } : { result: 'not-running', detail: `${this.params.ip} is not on its interface` }),
      (e: unknown): MonitorOutcome => ({ result: 'failed', detail: e instanceof Error ? e.message : String(e) }),
    );
    try {
      return await Promise.race([check, limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  private readonly log = (level: 'info' | 'warn' | 'debug', msg: string): void => {
    this.ctx.log(level, `${this.resource.spec}: ${msg}`);
  };

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new UserError(`resource "${this.resource.spec}": ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
