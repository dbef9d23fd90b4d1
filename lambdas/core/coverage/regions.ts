/**
 * Which Regions coverage looks in for one source account. A resource in a
 * Region the configuration does not register has no agent and no pull, so
 * it is exactly what coverage is for; it can only be found by looking in
 * every Region the account has enabled, which the account itself says
 * (EC2 DescribeRegions, through the reader role). Pure: the described
 * Regions and the operator's `--probe-regions` in, the plan out.
 */

/** A Region as EC2 DescribeRegions gives it. */
export interface DescribedRegion {
  readonly name: string;
  /** `opt-in-not-required`, `opted-in` or `not-opted-in`. */
  readonly optInStatus?: string;
}

/**
 * The opt-in states of a Region the account can use. A `not-opted-in`
 * Region cannot hold a resource, and every call there fails, so it is not
 * looked in.
 */
export const ENABLED_OPT_IN = ['opt-in-not-required', 'opted-in'] as const;

/**
 * The partition a Region belongs to. One partition's credentials are
 * worthless in another, and an emulator answers with every partition's
 * Regions, so only the backup account's own partition is looked in.
 */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  if (region.startsWith('eu-isoe-')) return 'aws-iso-e';
  if (region.startsWith('us-isof-')) return 'aws-iso-f';
  return 'aws';
}

/** The Regions of `partition` the account has enabled, sorted. */
export function enabledRegions(described: readonly DescribedRegion[], partition: string): string[] {
  const enabled = described.filter(
    (r) =>
      (ENABLED_OPT_IN as readonly string[]).includes(r.optInStatus ?? 'opt-in-not-required') &&
      partitionOf(r.name) === partition,
  );
  return [...new Set(enabled.map((r) => r.name))].sort();
}

/** Where to look in one account besides its registered Regions, and what was left out. */
export interface RegionPlan {
  /** Regions not registered to survey. */
  readonly probe: readonly string[];
  /** Enabled Regions not registered that `--probe-regions` left out. */
  readonly skipped: readonly string[];
  /** Regions `--probe-regions` names that the account has not enabled: nothing can be there. */
  readonly notEnabled: readonly string[];
}

/**
 * Every enabled Region that is not registered, narrowed to `named` when the
 * operator names some. When the enabled Regions are unknown (the reader
 * role may not ask: a source stack older than this), only `named` are
 * tried, as before.
 */
export function planRegions(
  registered: readonly string[],
  enabled: readonly string[] | undefined,
  named: readonly string[] | undefined,
): RegionPlan {
  const unregistered = (regions: readonly string[]) => [...new Set(regions)].filter((r) => !registered.includes(r));
  if (!enabled) return { probe: unregistered(named ?? []).sort(), skipped: [], notEnabled: [] };
  const candidates = unregistered(enabled).sort();
  if (!named) return { probe: candidates, skipped: [], notEnabled: [] };
  return {
    probe: candidates.filter((r) => named.includes(r)),
    skipped: candidates.filter((r) => !named.includes(r)),
    notEnabled: unregistered(named)
      .filter((r) => !enabled.includes(r))
      .sort(),
  };
}
