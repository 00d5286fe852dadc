import { expect, it } from 'vitest';
import { CounterSet } from '../../src/counters.js';

it('formats and snapshots counters sorted by name, also after a new name appears', () => {
  const set = new CounterSet();
  const tcp = set.layer('tcp');
  set.layer('udp');
  tcp.add('segments_sent', 2);
  tcp.drop('bad_checksum');
  expect(set.format()).toBe('tcp: drop.bad_checksum=1 dropped=1 segments_sent=2\nudp: (none)');
  // A name that sorts first, added after the order was computed once: the cached order must not hide it.
  tcp.add('accepted');
  tcp.add('segments_sent');
  expect(set.format()).toBe('tcp: accepted=1 drop.bad_checksum=1 dropped=1 segments_sent=3\nudp: (none)');
  expect(Object.keys(tcp.snapshot())).toEqual(['accepted', 'drop.bad_checksum', 'dropped', 'segments_sent']);
  expect(set.snapshot()).toEqual({ tcp: { accepted: 1, 'drop.bad_checksum': 1, dropped: 1, segments_sent: 3 }, udp: {} });
});
