/**
 * The sweep's take-in of what was shared but never announced: a source
 * agent shares an intermediate and publishes a notification, and if that
 * notification is lost (SNS or SQS lost it, the agent stopped between
 * sharing and publishing) nothing else brings the artifact to the vault
 * until the agent's own sweep announces it again, while the auditor reports
 * the resource as late.
 *
 * So the vault looks for itself: for each enabled kind and each Region a
 * registered source is registered in, one listing (with the vault's own
 * credentials) of what every registered account of that Region shares with
 * the backup account. AWS answers all of a Region's shares with one listing
 * (RDS lists every shared snapshot of the Region; EC2 takes the owners as a
 * filter), so the work grows with the Regions and kinds, not with the
 * accounts: a fleet of 200 accounts in one Region is 4 listings a period,
 * not 800. What the inventory already knows is left alone; the rest goes
 * through exactly what intake does with an announced artifact: a Describe
 * through the account's reader role, {@link sourceProblem}, and
 * {@link admit}. The listing is only a hint, like a notification: nothing
 * in it is trusted beyond the identifiers.
 *
 * A refusal is logged, not recorded: rejection records are keyed by the
 * body of a notification, and an artifact refused now is listed and
 * refused again next sweep, which would otherwise grow one record a sweep.
 */
import { artifactId, KINDS } from '../../kinds/registry';
import { type ArtifactRef, KIND_NAMES, type KindName } from '../../kinds/types';
import { listedSources } from '../enrolment/registry';
import type { SourceRegistry } from '../ports';
import { safeText } from '../text';
import type { VaultDeps } from './copy';
import { admit, sourceProblem } from './intake';

/** The sweep's dependencies: the vault's, and who is registered (listed and enrolled accounts). */
export type SweepDeps = VaultDeps & { readonly registry?: Pick<SourceRegistry, 'all'> };

/** The reason on a record the sweep made. */
export const TAKEN_IN_REASON = 'taken in by the sweep: shared with the backup account but never announced';

export interface TakeInSummary {
  /** Artifacts the listings named, every enabled kind and registered Region. */
  readonly listed: number;
  /** Records this sweep made (and whose copy it started or queued). */
  readonly takenIn: number;
  /** Already in the inventory: announced, taken in before, or just recorded by intake. */
  readonly alreadyKnown: number;
  /** Refused by intake's checks (owner, sharing, encryption, scope, state): logged, never recorded. */
  readonly refused: number;
  /** Not available yet: the next sweep looks again. */
  readonly pending: number;
  /** Listings or artifacts that failed with an error, logged; the others went on. */
  readonly errors: number;
}

type Outcome = 'taken-in' | 'known' | 'refused' | 'pending';

/**
 * What the sweep's `due` is asked: one listing, a kind's shares in a
 * Region for every account registered there (`rds-snapshot@eu-west-1`).
 * The scheduled sweep gives each its own slot of the maintenance period by
 * a hash of this text, as it did each account before.
 */
export function takeInListingOf(kind: KindName, region: string): string {
  return `${kind}@${region}`;
}

/**
 * Takes in what the registered sources share with the backup account but
 * the inventory does not hold. One listing per enabled kind and Region,
 * for all the accounts registered in that Region at once, never one per
 * account or per artifact; then one batch read of the inventory per
 * listing (100 ids a request), and a Describe only for those the inventory
 * does not know. `registry`: the registered sources, listed and enrolled;
 * the listed ones when absent. `due`: whether this sweep makes a listing,
 * asked with {@link takeInListingOf} (the scheduled sweep spreads the
 * listings over its maintenance period); every one when absent.
 */
export async function takeInShared(
  deps: SweepDeps,
  due: (listing: string) => boolean = () => true,
): Promise<TakeInSummary> {
  const counts = { listed: 0, takenIn: 0, alreadyKnown: 0, refused: 0, pending: 0, errors: 0 };
  const enabled = KIND_NAMES.filter((name) => deps.settings.kinds[name].enabled);
  const sources = await (deps.registry ?? listedSources(deps.settings.sources)).all();
  // Each Region's registered accounts, in the registry's order: what one listing asks for.
  const accountsIn = new Map<string, Set<string>>();
  for (const source of sources) {
    for (const region of source.regions)
      accountsIn.set(region, (accountsIn.get(region) ?? new Set()).add(source.account));
  }
  for (const kind of enabled) {
    for (const [region, registered] of accountsIn) {
      if (!due(takeInListingOf(kind, region))) continue;
      let refs: ArtifactRef[];
      try {
        refs = await deps.copiers[kind].listShared(region, [...registered]);
      } catch (error) {
        // The backup account's own call: refused for the Region (an SCP, a Region not enabled), not for one source.
        counts.errors += 1;
        deps.log.error('sweep could not list shared artifacts', {
          kind,
          region,
          accounts: registered.size,
          error: safeText(String(error), 300),
        });
        continue;
      }
      counts.listed += refs.length;
      // Nothing shared (the usual answer once the agents have their receipts): nothing to look up.
      if (refs.length === 0) continue;
      let known: Set<string>;
      try {
        known = await deps.inventory.existing(
          refs.map((ref) => artifactId({ ...ref, partition: deps.settings.partition })),
        );
      } catch (error) {
        counts.errors += 1;
        deps.log.error('sweep could not read the inventory for what it listed', {
          kind,
          region,
          error: safeText(String(error), 300),
        });
        continue;
      }
      for (const ref of refs) {
        if (known.has(artifactId({ ...ref, partition: deps.settings.partition }))) {
          counts.alreadyKnown += 1;
          continue;
        }
        try {
          const outcome = await takeIn(deps, kind, region, registered, ref);
          if (outcome === 'taken-in') counts.takenIn += 1;
          else if (outcome === 'known') counts.alreadyKnown += 1;
          else if (outcome === 'refused') counts.refused += 1;
          else counts.pending += 1;
        } catch (error) {
          counts.errors += 1;
          deps.log.error('sweep could not take in a shared artifact', {
            artifactId: artifactId(ref),
            error: safeText(String(error), 300),
          });
        }
      }
    }
  }
  if (counts.listed > 0 || counts.errors > 0) deps.log.info('shared artifacts looked at', { ...counts });
  return counts;
}

async function takeIn(
  deps: VaultDeps,
  kind: KindName,
  region: string,
  registered: ReadonlySet<string>,
  listed: ArtifactRef,
): Promise<Outcome> {
  const label = KINDS[kind].label;
  // Only what was asked for, under Bunker's identity; an id not of the kind's form never reaches a name.
  if (
    listed.kind !== kind ||
    !registered.has(listed.account) ||
    listed.region !== region ||
    !KINDS[kind].isId(listed.id)
  ) {
    deps.log.warn('shared artifact refused by the sweep', {
      kind,
      account: safeText(listed.account, 20),
      region,
      id: safeText(listed.id, 80),
      reason: `listed as ${listed.kind} of ${listed.account} in ${listed.region}, not a ${label} id of an account registered in ${region}`,
    });
    return 'refused';
  }
  const ref: ArtifactRef = { ...listed, partition: deps.settings.partition };
  const id = artifactId(ref);

  const view = await deps.copiers[kind].describeSource(ref);
  const problem = view
    ? await sourceProblem(deps, view)
    : `${label} ${ref.id} does not exist in account ${ref.account}`;
  if (problem || !view) {
    deps.log.warn('shared artifact refused by the sweep', { artifactId: id, reason: problem ?? 'not found' });
    return 'refused';
  }
  if (view.state === 'pending') return 'pending';
  const { created, step } = await admit(deps, ref, view, TAKEN_IN_REASON);
  if (!created) return 'known';
  deps.log.info('shared artifact taken in by the sweep', { artifactId: id, step: step.step });
  return 'taken-in';
}
