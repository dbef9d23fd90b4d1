/**
 * The registry of snapshot kinds: the one list the pipeline, the CLI and the
 * CDK stacks read. A new kind is a folder beside these (`kind.ts` pure,
 * `copier.ts` with the SDK) and one entry here; the compiler then asks for
 * its copier in `lambdas/adapters/copiers.ts`.
 */
import { ami } from './ami/kind';
import { auroraClusterSnapshot } from './aurora-cluster-snapshot/kind';
import { ebsSnapshot } from './ebs-snapshot/kind';
import { rdsSnapshot } from './rds-snapshot/kind';
import { type ArtifactRef, type Kind, type KindConfigKey, KIND_NAMES, type KindName } from './types';

export const KINDS: { readonly [K in KindName]: Kind } = {
  'rds-snapshot': rdsSnapshot,
  'aurora-cluster-snapshot': auroraClusterSnapshot,
  'ebs-snapshot': ebsSnapshot,
  ami,
};

export function kindOf(name: KindName): Kind {
  return KINDS[name];
}

export function isKindName(name: unknown): name is KindName {
  return typeof name === 'string' && (KIND_NAMES as readonly string[]).includes(name);
}

/** The kind a config key (`rds`, `aurora`, …) names. */
export function kindByConfigKey(key: KindConfigKey): Kind {
  const kind = KIND_NAMES.map((name) => KINDS[name]).find((k) => k.configKey === key);
  if (!kind) throw new Error(`no kind has the config key ${key}`);
  return kind;
}

/** Every kind, in registry order. */
export const ALL_KINDS: readonly Kind[] = KIND_NAMES.map((name) => KINDS[name]);

/**
 * The inventory key of an artifact: Bunker's identity, the same for every
 * kind. The id is last, so a colon in it cannot be mistaken for a separator.
 */
export function artifactId(ref: ArtifactRef): string {
  return `${ref.kind}:${ref.account}:${ref.region}:${ref.id}`;
}

/** Copy slots are counted per pool: a kind's copy quota in one destination Region. */
export function poolOf(kind: KindName, targetRegion: string): string {
  return `${kind}@${targetRegion}`;
}

export { KIND_NAMES, type KindName };
