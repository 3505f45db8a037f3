import { describe, expect, it } from 'vitest';
import { formatTimeline } from '../../lab/timeline.js';

describe('demo timeline', () => {
  it('prints events in time order whatever order they were collected in', () => {
    // As the demo collects them: the log lines first, then the watchers' events.
    const lines = formatTimeline([
      { atMs: 0, text: 'alpha loses power' },
      { atMs: 283, text: 'beta: group 10.213.1.100: running' },
      { atMs: 277, text: 'kernel on beta reports the VIP' },
      { atMs: 283, text: 'client gets echo replies from the VIP again' },
    ]);
    expect(lines).toEqual([
      '  +    0 ms  alpha loses power',
      '  +  277 ms  kernel on beta reports the VIP',
      '  +  283 ms  beta: group 10.213.1.100: running',
      '  +  283 ms  client gets echo replies from the VIP again',
    ]);
  });
});
