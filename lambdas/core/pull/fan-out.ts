/**
 * The pulls of enrolled accounts. Their accounts are not known at synthesis,
 * so instead of a rule per account and Region, one rule per pulled kind
 * queues a {@link PullFanOutJob}, and the pull handler expands it here into
 * one {@link PullJob} per active enrolled account and Region. Listed sources
 * are left out: their own rules pull them.
 *
 * A fan-out delivered twice queues every job twice; that is as harmless as a
 * scheduled job delivered twice (SQS delivers at least once): the second run
 * finds every value's fingerprint unchanged, writes no data and only its run
 * record, and every pulled record is written conditionally.
 */
import type { SourceRegistry } from '../ports';
import type { RegisteredSource } from '../settings';
import type { PullFanOutJob, PullJob } from './types';

export async function fanOutJobs(
  job: PullFanOutJob,
  registry: Pick<SourceRegistry, 'all'>,
  listed: readonly RegisteredSource[],
): Promise<PullJob[]> {
  const listedAccounts = new Set(listed.map((source) => source.account));
  const enrolled = (await registry.all()).filter((source) => !listedAccounts.has(source.account));
  return enrolled.flatMap((source) =>
    source.regions.map((region) => ({ kind: job.kind, account: source.account, region })),
  );
}
