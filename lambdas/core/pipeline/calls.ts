/**
 * The fewest AWS requests one artifact of each kind needs, end to end, in
 * this design: what `docs/performance.md` derives step by step and what the
 * bench and the calls-per-artifact measurement compare with. DynamoDB and
 * SNS included; the reader role's AssumeRole (once an hour per source
 * account and Region) and the sweeps' listings (a page per 100 artifacts)
 * are amortized to nothing; Lambda invocations and SQS polling are not
 * requests the code makes. An AMI is counted with one backing snapshot and
 * no lock; each more backing snapshot adds two (sharing it, checking it).
 *
 * Written as literals on purpose: a change to the pipeline that adds a
 * request should fail the comparison, not move the bar.
 */
import type { KindName } from '../../kinds/types';

export interface CallsPerArtifact {
  /** The source agent: re-key, share, announce, mark the receipt, clean up. */
  readonly source: number;
  /** The vault: intake's check, claim, copy, completion, receipt and the next copy's pick. */
  readonly vault: number;
  readonly total: number;
}

export const MIN_CALLS_PER_ARTIFACT: { readonly [K in KindName]: CallsPerArtifact } = {
  'rds-snapshot': { source: 11, vault: 11, total: 22 },
  'aurora-cluster-snapshot': { source: 11, vault: 11, total: 22 },
  'ebs-snapshot': { source: 11, vault: 11, total: 22 },
  ami: { source: 12, vault: 11, total: 23 },
};

/** The most requests per artifact the target allows: 1.2 times the minimum. */
export const CALLS_TARGET_RATIO = 1.2;
