/**
 * Where a pool's slot time goes (`slotTimeOf`, sim/simulation.ts): the
 * simulation's account of each slot between a claim and the settle, and of
 * the slots no copy held, that says which cause a scheduling change should
 * close.
 */
import { describe, expect, it } from 'vitest';
import { slotTimeOf } from '../../sim/simulation';

/** A tenth of an hour, in ms. */
const U = 360_000;

describe('the slot-time account of a pool', () => {
  it('splits two slots over 0.6 h into the request, the copy, the queue behind a resource, the settles and the idle time', () => {
    const account = slotTimeOf(
      2,
      0,
      [
        // Claimed at 0, accepted 36 s later, finished at 0.3 h, settled by its event at 0.4 h.
        {
          fromMs: 0,
          toMs: 4 * U,
          settledBy: 'event',
          copy: { acceptedAtMs: 36_000, startsAtMs: 36_000, endsAtMs: 3 * U },
        },
        // Claimed at 0.1 h, accepted only at 0.2 h (a crash's lease), behind its resource to 0.25 h, settled by the sweep.
        {
          fromMs: U,
          toMs: 6 * U,
          settledBy: 'sweep',
          copy: { acceptedAtMs: 2 * U, startsAtMs: 2.5 * U, endsAtMs: 5 * U },
        },
      ],
      // Records waited for a slot from the start to 0.4 h.
      [
        [0, 1],
        [4 * U, 0],
      ],
    );

    expect(account).toEqual({
      quota: 2,
      endSeconds: 2_160,
      hours: { copying: 0.54, queued: 0.05, claimed: 0.01, lease: 0.1, event: 0.1, look: 0, sweep: 0.1, idle: 0.3 },
      waiting: { copying: 0.44, queued: 0.05, claimed: 0.01, lease: 0.1, event: 0.1, look: 0, sweep: 0, idle: 0.1 },
    });
  });

  it('counts a claim that never reached AWS as the request’s time when short, as a lease when a minute or more', () => {
    const account = slotTimeOf(
      1,
      0,
      [
        { fromMs: 0, toMs: 36_000, settledBy: 'none' },
        { fromMs: U, toMs: 2 * U, settledBy: 'none' },
      ],
      [],
    );

    expect(account.hours).toEqual({
      copying: 0,
      queued: 0,
      claimed: 0.01,
      lease: 0.1,
      event: 0,
      look: 0,
      sweep: 0,
      idle: 0.09,
    });
  });
});
