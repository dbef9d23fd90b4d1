/**
 * The simulation's model of the vault functions' execution environments:
 * what a container remembers (`RingMemory`) is shared only by the
 * invocations that run in it, one at a time, and is lost with a crash or an
 * idle reclaim, as in Lambda.
 */
import { describe, expect, it } from 'vitest';
import { EventLoop } from '../../sim/clock';
import { Invocation } from '../../sim/faults';
import { VaultEnvironments } from '../../sim/simulation';

const START = '2026-03-01T00:00:00.000Z';

describe('VaultEnvironments', () => {
  it('runs invocations at the same time in different environments and reuses the one used last', () => {
    const loop = new EventLoop(START);
    const envs = new VaultEnvironments('lambda', 15_000, loop);
    const a = new Invocation('completion', loop.epochMs);
    const b = new Invocation('completion', loop.epochMs);
    const inA = envs.enter('completion', a);
    const inB = envs.enter('completion', b);

    expect(envs.ringOf(a)).not.toBe(envs.ringOf(b));
    envs.leave('completion', inB, false);
    envs.leave('completion', inA, false);
    const c = new Invocation('completion', loop.epochMs);
    envs.enter('completion', c);

    // A was left last: the most recently used idle environment takes the next invocation.
    expect(envs.ringOf(c)).toBe(envs.ringOf(a));
    expect(envs.started).toEqual({ completion: 2 });
  });

  it('keeps each function’s environments apart', () => {
    const loop = new EventLoop(START);
    const envs = new VaultEnvironments('lambda', 15_000, loop);
    const intake = new Invocation('intake', loop.epochMs);
    envs.leave('intake', envs.enter('intake', intake), false);
    const completion = new Invocation('completion', loop.epochMs);
    envs.enter('completion', completion);

    expect(envs.ringOf(completion)).not.toBe(envs.ringOf(intake));
    expect(envs.started).toEqual({ intake: 1, completion: 1 });
  });

  it('loses an environment to a crash, and one idle for 15 minutes to a reclaim', async () => {
    const loop = new EventLoop(START);
    const envs = new VaultEnvironments('lambda', 15_000, loop);
    const crashed = new Invocation('intake', loop.epochMs);
    envs.leave('intake', envs.enter('intake', crashed), true);
    const next = new Invocation('intake', loop.epochMs);
    envs.leave('intake', envs.enter('intake', next), false);

    expect(envs.ringOf(next)).not.toBe(envs.ringOf(crashed));
    loop.after(15 * 60_000, () => undefined);
    await loop.run();
    const later = new Invocation('intake', loop.epochMs);
    envs.enter('intake', later);

    expect(envs.ringOf(later)).not.toBe(envs.ringOf(next));
    expect(envs.started).toEqual({ intake: 3 });
  });

  it('gives every invocation one shared memory in the mode that models no environments', () => {
    const loop = new EventLoop(START);
    const envs = new VaultEnvironments('one', 15_000, loop);
    const a = new Invocation('intake', loop.epochMs);
    const b = new Invocation('completion', loop.epochMs);
    envs.enter('intake', a);
    envs.enter('completion', b);

    expect(envs.ringOf(a)).toBe(envs.ringOf(b));
    expect(envs.started).toEqual({});
  });
});
