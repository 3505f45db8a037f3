// Who owns which service address. An address (either family, keyed by its
// canonical text) has one owner at a time: a haresources group today, a VRRP
// instance or an IPVS virtual server next. A second owner's claim is refused
// and the refusal names both, so two parts of one configuration can never
// fight over an address at takeover. Pure: the daemon's network core holds
// one registry at run time; check-config fills one from the files.

import { canonicalIp } from './addr.js';

export interface Claim {
  address: string;          // canonical text
  owner: string;            // e.g. "group 'IPaddr2::10.0.0.5/24/eth0'"
  /** Where the claim comes from, e.g. "/etc/ha.d/haresources:1"; shown in refusals. */
  where?: string;
}

export type ClaimResult = { ok: true } | { ok: false; holder: Claim; message: string };

export class AddressRegistry {
  private readonly byAddress = new Map<string, Claim>();

  /**
   * Claims `address` for `owner`. Claiming again for the same owner is fine;
   * for another owner it is refused with a message naming both.
   * `shown` is the address as the caller wrote it (e.g. with its prefix).
   */
  claim(address: string, owner: string, where?: string, shown: string = address): ClaimResult {
    const key = canonicalIp(address) ?? address;
    const holder = this.byAddress.get(key);
    if (holder && holder.owner !== owner) {
      return { ok: false, holder, message: conflictMessage(shown, holder) };
    }
    if (!holder) this.byAddress.set(key, where === undefined ? { address: key, owner } : { address: key, owner, where });
    return { ok: true };
  }

  /** Gives `address` up if `owner` holds it; true when it did. */
  release(address: string, owner: string): boolean {
    const key = canonicalIp(address) ?? address;
    if (this.byAddress.get(key)?.owner !== owner) return false;
    this.byAddress.delete(key);
    return true;
  }

  releaseOwner(owner: string): void {
    for (const [k, c] of this.byAddress) if (c.owner === owner) this.byAddress.delete(k);
  }

  holderOf(address: string): Claim | undefined {
    return this.byAddress.get(canonicalIp(address) ?? address);
  }

  claims(): Claim[] {
    return [...this.byAddress.values()];
  }
}

/** "10.0.0.5/24 is already claimed by group X at haresources:1" */
export function conflictMessage(shown: string, holder: Claim): string {
  return `${shown} is already claimed by ${holder.owner}${holder.where ? ` at ${holder.where}` : ''}`;
}
