/**
 * The hourly schedule's sweep (`sweepDue`, lambdas/core/agent/engine.ts):
 * an environment that knows of no work of a kind lists it once every six
 * hours, in the account's own hour; one that holds originals back lists it
 * every hour; a full sweep (tests, `bunker local run`) lists every time.
 * The bound it keeps: an original whose event was lost, in an account where
 * nothing else happens, gets its intermediate within six hours.
 *
 * The fixture's account 222222222222 in eu-west-1 has its hour where the
 * hour count since the epoch is 1 modulo 6 (FNV-1a of
 * `222222222222:eu-west-1` is 3611347267), that is 01:00, 07:00, 13:00 and
 * 19:00 UTC; the fixture's clock starts at 04:30.
 */
import { describe, expect, it } from 'vitest';
import { AgentMemory } from '../../lambdas/core/agent/memory';
import { intermediateSnapshotId } from '../../lambdas/core/names';
import { type AgentDeps, processSnapshot, sweepSource } from '../../lambdas/core/rds-source-agent';
import { sweepModeFromEnv } from '../../lambdas/handlers/source-agent';
import { agentFixture, IN_SCOPE, REGION, SOURCE } from './support/memory-fixtures';

const HOUR = 3_600_000;

/** The deps as a new execution environment sees them: nothing remembered. */
const fresh = (deps: AgentDeps): AgentDeps => ({ ...deps, memory: new AgentMemory() });

/** The fixture's listings so far. */
const listings = (a: ReturnType<typeof agentFixture>) => a.monitor.byMethod.get('source-rds.listSnapshots') ?? 0;

describe('the scheduled sweep', () => {
  it('lists an account once every six hours, in its own hour, when the environment knows of no work', async () => {
    const a = agentFixture();
    const listedAt: string[] = [];
    for (let hour = 0; hour < 12; hour += 1) {
      const before = listings(a);
      await sweepSource(fresh(a.deps), 'scheduled');
      if (listings(a) > before) listedAt.push(a.clock.now().toISOString());
      a.clock.advance(HOUR);
    }

    expect(listedAt).toEqual(['2026-03-01T07:30:00.000Z', '2026-03-01T13:30:00.000Z']);
  });

  it('lists every time when full, as tests and a local run sweep', async () => {
    const a = agentFixture();
    for (let hour = 0; hour < 3; hour += 1) {
      await sweepSource(fresh(a.deps), 'full');
      a.clock.advance(HOUR);
    }

    expect(listings(a)).toBe(3);
  });

  it('copies an original whose event was lost at the account’s next listing, within six hours', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    let copiedAt: string | undefined;
    for (let hour = 0; hour < 6 && !copiedAt; hour += 1) {
      await sweepSource(fresh(a.deps), 'scheduled');
      if (a.world.copies.length > 0) copiedAt = a.clock.now().toISOString();
      a.clock.advance(HOUR);
    }

    expect(copiedAt).toBe('2026-03-01T07:30:00.000Z');
    expect(a.world.copies.map((c) => c.targetId)).toEqual([intermediateSnapshotId('orders-1')]);
  });

  it('lists every hour in an environment that holds originals back at the cap', async () => {
    const a = agentFixture({ maxIntermediates: 1 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    a.snapshot('orders-2');
    const warm = fresh(a.deps);
    await processSnapshot('orders-1', warm);
    const held = await processSnapshot('orders-2', warm);
    const before = listings(a);
    a.clock.advance(HOUR);
    await sweepSource(warm, 'scheduled');
    a.clock.advance(HOUR);
    await sweepSource(fresh(a.deps), 'scheduled');

    expect(held).toBe('waiting-for-room');
    // 05:30 in the environment that holds orders-2 back; 06:30 in a new one, not the account's hour: no listing.
    expect(listings(a) - before).toBe(1);
  });

  it('is what the deployed function runs only when its stack says so: a full sweep otherwise', () => {
    expect([
      sweepModeFromEnv({ BUNKER_AGENT_SWEEP: 'scheduled' }),
      sweepModeFromEnv({}),
      sweepModeFromEnv({ BUNKER_AGENT_SWEEP: 'hourly' }),
    ]).toEqual(['scheduled', 'full', 'full']);
  });
});
