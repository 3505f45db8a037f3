// Property test: whatever text (or tree of includes) a keepalived.conf holds,
// tandem's parser returns issues instead of throwing, every issue points at a
// line that exists in the file it names, and a model comes back exactly when
// there is no error.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { lexKeepalived, type KaReader } from '../../src/config/keepalived-lexer.js';
import { loadKeepalived } from '../../src/config/keepalived.js';

const TOKENS = [
  'vrrp_instance', 'vrrp_script', 'vrrp_sync_group', 'global_defs', 'virtual_server', 'real_server', 'TCP_CHECK', 'include',
  'include b.conf', 'include *.conf', 'include a.conf', 'interface', 'eth0', 'virtual_router_id', 'priority', 'advert_int', 'state',
  'MASTER', 'BACKUP', 'version', '2', '3', '0.01', '0.015', '256', '0', '-5', 'virtual_ipaddress', 'virtual_ipaddress_excluded',
  'virtual_routes', '10.0.0.5/24', '2001:db8::5/64', 'dev', 'label', 'scope', 'brd', 'unicast_peer', 'unicast_src_ip', 'group',
  'track_script', 'track_interface', 'track_file', 'weight', 'reverse', 'chk', 'VI_1', 'VI_2', 'G', 'authentication', 'auth_type',
  'PASS', 'AH', 'auth_pass', 'notify', 'notify_master', 'script', '"/bin/true x"', '"unclosed', 'nopreempt', 'preempt_delay',
  'vrrp_strict', 'enable_script_security', 'script_user', 'root', '{', '}', '{ }', '!', '#', '@x', '$X=1', 'use_vmac', 'via', 'to',
];
const token = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) });
const line = fc.array(token, { maxLength: 6 }).map((t) => t.join(' '));
const text = fc.array(line, { maxLength: 40 }).map((l) => l.join('\n'));

function reader(files: Record<string, string>): KaReader {
  return {
    read: (p) => (p in files ? { text: files[p]! } : { error: 'no such file' }),
    glob: (pattern) => Object.keys(files).filter((k) => pattern === '/*.conf' && k.endsWith('.conf')).sort(),
    real: (p) => p,
  };
}

describe('keepalived.conf parser under random input', () => {
  it('never throws; issues point at existing lines; a model exactly when there is no error', () => {
    fc.assert(fc.property(text, text, text, (a, b, c) => {
      const files = { '/a.conf': a, '/b.conf': b, '/c.inc': c };
      const r = loadKeepalived('/a.conf', { reader: reader(files), host: null });
      for (const i of r.issues) {
        expect(i.file in files, i.file).toBe(true);
        expect(i.line).toBeGreaterThanOrEqual(0);
        expect(i.line).toBeLessThanOrEqual(files[i.file as keyof typeof files].split('\n').length);
        expect(i.message).not.toMatch(/[\u0000-\u001f]/);
      }
      expect(r.config === undefined).toBe(r.issues.some((i) => i.severity === 'error'));
    }), { numRuns: 1500 });
  });

  it('the lexer keeps every non-empty line it reads in the tree, with its own file and line', () => {
    fc.assert(fc.property(text, (a) => {
      const r = lexKeepalived('/a.conf', reader({ '/a.conf': a }));
      const walk = (nodes: typeof r.nodes): void => {
        for (const n of nodes) {
          expect(n.file).toBe('/a.conf');
          expect(n.line).toBeGreaterThanOrEqual(1);
          if (n.block) walk(n.block);
        }
      };
      walk(r.nodes);
    }), { numRuns: 500 });
  });
});
