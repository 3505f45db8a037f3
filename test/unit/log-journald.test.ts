// journald-friendly stderr: `<N>` priority prefixes instead of a timestamp
// when stderr is the journal's stream (or when asked), plain lines otherwise.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { fstatSync } from 'node:fs';
import { Logger, stderrIsJournal } from '../../src/util/log.js';

describe('journald priority prefixes', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture(opts: ConstructorParameters<typeof Logger>[0]): string[] {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { lines.push(String(s)); return true; });
    const log = new Logger(opts);
    log.error('e'); log.warn('w'); log.info('i'); log.debug('d');
    return lines;
  }

  it('prefixes each severity and drops the timestamp', () => {
    expect(capture({ node: 'alpha', debug: true, priorityPrefix: true })).toEqual([
      '<3>alpha ERROR e\n', '<4>alpha WARN  w\n', '<6>alpha INFO  i\n', '<7>alpha DEBUG d\n',
    ]);
  });

  it('keeps a message on one line, so a continuation cannot carry a priority of its own', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { lines.push(String(s)); return true; });
    new Logger({ node: 'alpha', priorityPrefix: true }).info('script said: ok\n<0>forged emergency\r\n');
    expect(lines).toEqual(['<6>alpha INFO  script said: ok <0>forged emergency \n']);
  });

  it('writes plain timestamped lines otherwise', () => {
    const lines = capture({ node: 'alpha', priorityPrefix: false });
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z alpha (ERROR|WARN |INFO ) [ewi]\n$/);
  });

  it('detects the journal stream by stderr\'s device and inode, as systemd.exec(5) says', () => {
    const st = fstatSync(2);
    expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(true);
    // Inherited from a parent whose stderr was the journal, but ours is not.
    expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` })).toBe(false);
    expect(stderrIsJournal({})).toBe(false);
    expect(stderrIsJournal({ TANDEM_LOG_PREFIX: '1' })).toBe(true);
    expect(stderrIsJournal({ TANDEM_LOG_PREFIX: '0', JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(false);
  });
});
