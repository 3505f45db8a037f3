// The no_accept filter as nftables text (pure). keepalived 2.2 drops IP
// traffic to and from a non-owner master's addresses with `table ip|ip6
// keepalived`, base chains on input and output at priority filter - 1,
// neighbour discovery let through; tandem does the same in one `inet` table
// of its own. Every change replaces the whole table in one batch (nft
// applies a batch as one transaction): no packet ever sees a half-built
// table, a leftover of a crashed daemon is replaced rather than duplicated,
// and the kernel's state never depends on what an earlier batch did.

import { isLinkLocal6, parseIp } from './addr.js';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'tandem_vrrp';

/** One address whose IP traffic is dropped, for `owner` (e.g. `vrrp:VI_1`), on interface `nic`. */
export interface DropEntry {
  ip: string;
  nic: string;
  owner: string;
}

const ND = 'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept';

/** Element comments and interface names are quoted: anything but a plain name is left out or refused. */
const SAFE = /^[A-Za-z0-9_.:@+-]{1,64}$/;

function comment(owner: string): string {
  return SAFE.test(owner) ? ` comment "${owner}"` : '';
}

/**
 * The batch that makes the table hold exactly `entries` (none: no table).
 * Addresses are canonical and sorted, so equal states give equal text.
 * Throws on an address or interface name that cannot be written safely.
 */
export function nftBatch(entries: DropEntry[]): string {
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  // `table X {}` creates it if absent, so the delete never fails: replace and remove are one form.
  const head = [`table ${t} {}`, `delete table ${t}`];
  if (entries.length === 0) return `${head.join('\n')}\n`;
  const v4 = new Map<string, string>();
  const v6 = new Map<string, string>();
  const ll = new Map<string, string>();
  for (const e of entries) {
    const ip = parseIp(e.ip);
    if (!ip) throw new Error(`not an IP address: ${JSON.stringify(e.ip)}`);
    if (ip.family === 4) v4.set(ip.text, comment(e.owner));
    else if (!isLinkLocal6(ip.bytes)) v6.set(ip.text, comment(e.owner));
    else {
      // A link-local address is only that address on its own link.
      if (!SAFE.test(e.nic)) throw new Error(`interface name ${JSON.stringify(e.nic)} cannot be written into an nft rule`);
      ll.set(`${ip.text} . "${e.nic}"`, comment(e.owner));
    }
  }
  const set = (name: string, type: string, m: Map<string, string>) => [
    `\tset ${name} {`, `\t\ttype ${type}`,
    ...(m.size ? [`\t\telements = { ${[...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, c]) => `${k}${c}`).join(', ')} }`] : []),
    '\t}',
  ];
  const chain = (name: string, hook: string, addr: 'daddr' | 'saddr', dev: 'iifname' | 'oifname') => [
    `\tchain ${name} {`,
    `\t\ttype filter hook ${hook} priority filter - 1; policy accept;`,
    // The address still answers neighbour solicitations (ARP is not IP: no rule needed).
    `\t\t${ND}`,
    `\t\tip ${addr} @vips4 drop`,
    `\t\tip6 ${addr} @vips6 drop`,
    `\t\tip6 ${addr} . ${dev} @vips6_ll drop`,
    '\t}',
  ];
  return [
    ...head,
    `table ${t} {`,
    ...set('vips4', 'ipv4_addr', v4),
    ...set('vips6', 'ipv6_addr', v6),
    ...set('vips6_ll', 'ipv6_addr . ifname', ll),
    ...chain('in', 'input', 'daddr', 'iifname'),
    ...chain('out', 'output', 'saddr', 'oifname'),
    '}',
    '',
  ].join('\n');
}

/** Whether `nft list tables` output names tandem's table. */
export function hasNftTable(listing: string): boolean {
  return listing.split('\n').some((l) => l.trim() === `table ${NFT_FAMILY} ${NFT_TABLE}`);
}
