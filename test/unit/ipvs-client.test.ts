// The IPVS client on this machine's own kernel: where the kernel has no
// IPVS (this workplace's), opening says so and names the way out; where it
// has IPVS, the family resolves and GET_INFO answers. The full behaviour is
// tested in the qemu guest (test/netns/ipvs-kernel.test.ts).

import { describe, expect, it } from 'vitest';
import { IpvsClient, NO_IPVS_MESSAGE } from '../../src/net/ipvs.js';
import { NetlinkError } from '../../src/net/netlink.js';

describe('IpvsClient on the host kernel', () => {
  it('resolves the IPVS family, or says the kernel has none and to use nftables', async () => {
    let client: IpvsClient | undefined;
    try {
      client = await IpvsClient.open();
    } catch (e) {
      expect(e).toBeInstanceOf(NetlinkError);
      expect((e as NetlinkError).message).toBe(NO_IPVS_MESSAGE);
      expect((e as NetlinkError).code).toBe('ENOENT');
      return;
    }
    try {
      expect((await client.info()).version).toMatch(/^\d+\.\d+\.\d+$/);
    } finally {
      client.close();
    }
  });
});
