/**
 * The fewest AWS requests one artifact of each kind needs, end to end, in
 * this design: what `docs/performance.md` derives step by step and what the
 * bench and the calls-per-artifact measurement compare with. DynamoDB and
 * SNS included; the reader role's AssumeRole (once an hour per source
 * account and Region) and the sweeps' listings (a page per 100 artifacts)
 * are amortized to nothing; Lambda invocations and SQS polling are not
 * requests the code makes. EBS snapshots and AMIs are counted with their
 * copies locked (immutability has no off switch for them): the lock's check
 * and the lock, for an AMI also its deregistration protection. An AMI is
 * counted with one backing snapshot; each more adds two on the source
 * (sharing it, deleting it) and five on the vault (describing it and its
 * permission at intake, describing it at completion, checking and locking it).
 *
 * Intake's check is two requests (the artifact, its sharing): the scope
 * of a tag is settled by the tag the source agent carried onto its
 * intermediate from the resource it judged (`../agent/carried-scope.ts`),
 * so the minimum reads no resource's tags on the vault's side (it did
 * until the intermediate carried them: RDS and Aurora were 22, EBS 27).
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
  'rds-snapshot': { source: 11, vault: 10, total: 21 },
  'aurora-cluster-snapshot': { source: 11, vault: 10, total: 21 },
  'ebs-snapshot': { source: 13, vault: 13, total: 26 },
  ami: { source: 13, vault: 17, total: 30 },
};

/** The most requests per artifact the target allows: 1.2 times the minimum. */
export const CALLS_TARGET_RATIO = 1.2;

/**
 * What an artifact adds on the vault's side when it arrives at a pool with
 * no free slot, during a burst: its waiting record's write (the claim that
 * later starts it is the minimum's own claim, the walk's query that finds it
 * the minimum's "next" query). Unavoidable in this design: an artifact the
 * vault cannot start now must be recorded somewhere durable until a slot
 * frees, and the inventory is that place. The burst minimum of a kind is its
 * vault minimum plus this; `docs/performance.md` counts against both.
 */
export const BURST_WAITING_WRITES = 1;
