// The LVS model from keepalived.conf (src/lvs/config.ts): keepalived's
// defaults, inheritance of checker timings, groups, and FILE:LINE errors for
// what `keepalived -t` refuses.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadKeepalived } from '../../src/config/keepalived.js';

const work = mkdtempSync(join(tmpdir(), 'tandem-lvs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

function load(text: string) {
  const file = join(work, `k${++n}.conf`);
  writeFileSync(file, text);
  const r = loadKeepalived(file, { host: null });
  const shown = r.issues.map((i) => `${i.line}: ${i.severity}: ${i.message}`);
  return { ...r, shown, errors: shown.filter((s) => s.includes(': error: ')) };
}

const WEB = `virtual_server 10.160.1.100 80 {
  delay_loop 2
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  persistence_timeout 30
  persistence_granularity 255.255.255.0
  sorry_server 10.160.9.9 8080
  quorum 2
  hysteresis 1
  connect_timeout 1.5
  real_server 10.160.2.11 8080 {
    weight 2
    inhibit_on_failure
    HTTP_GET {
      url {
        path /health
        status_code 200 300-302
        digest 0123456789ABCDEF0123456789abcdef
      }
      retry 3
      delay_before_retry 0.5
      virtualhost www.example.com
    }
    TCP_CHECK {
      connect_port 8081
      nb_get_retry 2
    }
  }
  real_server 10.160.2.12 {
    DNS_CHECK {
      type A
      name example.com
      connect_port 53
    }
  }
}
`;

describe('virtual_server model', () => {
  it("keepalived's defaults, and checker timings inherited from the real and virtual server", () => {
    const r = load(WEB);
    expect(r.errors).toEqual([]);
    const [vs] = r.config!.lvs.services;
    expect(vs).toMatchObject({
      name: '10.160.1.100:80 TCP', addresses: [{ kind: 'addr', ip: '10.160.1.100', port: 80, family: 4 }],
      protocol: 'TCP', lbAlgo: 'wrr', lbKind: 'NAT', delayLoopMs: 2000, persistenceTimeout: 30, persistenceGranularity: 24,
      sorryServer: { ip: '10.160.9.9', port: 8080, lbKind: 'NAT' }, quorum: 2, hysteresis: 1, alpha: false, omega: false,
    });
    const [a, b] = vs!.realServers;
    expect(a).toMatchObject({ ip: '10.160.2.11', port: 8080, weight: 2, inhibitOnFailure: true, lbKind: 'NAT' });
    expect(a!.checkers[0]).toMatchObject({
      type: 'HTTP_GET', ip: '10.160.2.11', port: 8080, retry: 3, delayBeforeRetryMs: 500, connectTimeoutMs: 1500, delayLoopMs: 2000,
      virtualhost: 'www.example.com', urls: [{ path: '/health', statusCodes: [[200, 200], [300, 302]], digest: '0123456789abcdef0123456789abcdef' }],
    });
    expect(a!.checkers[1]).toMatchObject({ type: 'TCP_CHECK', port: 8081, retry: 2, delayBeforeRetryMs: 1000 });
    // A real server without a port takes the service's.
    expect(b).toMatchObject({ ip: '10.160.2.12', port: 80, weight: 1, inhibitOnFailure: false });
    expect(b!.checkers[0]).toMatchObject({ type: 'DNS_CHECK', port: 53, dns: { type: 'A', name: 'example.com' }, connectTimeoutMs: 1500, retry: 1 });
    // nb_get_retry is deprecated: said so at its line.
    expect(r.shown).toContain("27: warning: 'nb_get_retry' is deprecated (keepalived 2.x): it means 'retry'");
  });

  it('fwmark and group services; a group range expands to its addresses', () => {
    const r = load(`virtual_server_group G {
  10.160.1.10-12 443
  fwmark 7
}
virtual_server group G {
  protocol TCP
  lb_algo sh
  lb_kind DR
  real_server 10.160.2.11 443 {
  }
}
virtual_server fwmark 1 {
  lb_algo rr
  lb_kind NAT
  persistence_timeout 60
  real_server 10.160.2.11 {
    MISC_CHECK {
      misc_path "/bin/true 1"
      misc_dynamic
    }
  }
}
`);
    expect(r.errors).toEqual([]);
    const [g, f] = r.config!.lvs.services;
    expect(g!.addresses).toEqual([
      { kind: 'addr', ip: '10.160.1.10', family: 4, port: 443 }, { kind: 'addr', ip: '10.160.1.11', family: 4, port: 443 },
      { kind: 'addr', ip: '10.160.1.12', family: 4, port: 443 }, { kind: 'fwmark', mark: 7, family: 4 },
    ]);
    expect(f).toMatchObject({ name: 'fwmark 1', addresses: [{ kind: 'fwmark', mark: 1 }], persistenceTimeout: 60 });
    expect(f!.realServers[0]).toMatchObject({ port: 0 });
    expect(f!.realServers[0]!.checkers[0]!.misc).toMatchObject({ command: { argv: ['/bin/true', '1'] }, dynamic: true });
  });

  it('refuses what keepalived -t refuses, at the line', () => {
    const r = load(`virtual_server 10.160.1.100 80 {
  lb_algo foo
  lb_kind NAT
  protocol TCP
  delay_loop 0
  real_server 10.160.2.11 80 {
    weight -3
    HTTP_GET {
      connect_timeout 3
    }
    TCP_CHECK {
      frob 1
    }
  }
}
virtual_server 10.160.1.101 80 {
  lb_algo rr
  lb_kind NAT
  real_server 10.160.2.11 80 {
  }
}
virtual_server fwmark 3 {
  lb_algo rr
  lb_kind NAT
  real_server 10.160.2.11 80 {
  }
}
virtual_server group NOPE {
  protocol TCP
  lb_algo rr
  lb_kind NAT
  real_server 10.160.2.11 80 {
    HTTP_GET {
      url {
        digest zz
      }
    }
  }
}
`);
    expect(r.errors.map((e) => e.replace(/: error: .*/, ''))).toEqual(['2', '5', '7', '8', '12', '16', '25', '28', '35']);
    expect(r.errors[0]).toMatch(/'lb_algo' 'foo' is not a scheduler/);
    expect(r.errors[3]).toMatch(/HTTP_GET has no url block/);
    expect(r.errors[5]).toMatch(/no 'protocol'/);
    expect(r.errors[6]).toMatch(/fwmark virtual_server takes no port/);
    expect(r.errors[7]).toMatch(/no virtual_server_group of that name/);
  });
});
