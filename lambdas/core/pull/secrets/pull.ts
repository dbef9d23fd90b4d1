/**
 * Pulling Secrets Manager secrets: ListSecrets (100 a page) gives each
 * secret's tags and its versions with their staging labels
 * (SecretVersionsToStages), so change detection reads no value; only the
 * versions the vault does not hold yet are read, one GetSecretValue each.
 * Every labelled version is kept (AWSCURRENT, AWSPREVIOUS, custom labels),
 * except one whose only label is AWSPENDING: a rotation in progress, not a
 * value anything uses yet.
 */
import { RetryLaterError } from '../../errors';
import type { SecretValue } from '../secret-value';
import { pulledInScope } from '../scope';
import type { PullContext, PullRunSummary, SecretsPullSettings } from '../types';
import { eachLimited, failureReason, type PulledVersion, ValueRun } from '../values';

export const CURRENT = 'AWSCURRENT';
export const PREVIOUS = 'AWSPREVIOUS';
export const PENDING = 'AWSPENDING';

/** Secrets read at once; GetSecretValue allows thousands a second, this bounds the Lambda's own sockets. */
const READ_CONCURRENCY = 4;

export interface SecretMeta {
  readonly name: string;
  readonly arn: string;
  /** Every version that has a staging label, with its labels. */
  readonly versions: readonly { readonly id: string; readonly labels: readonly string[] }[];
  readonly tags: Readonly<Record<string, string>>;
}

export interface SecretVersionValue {
  readonly id: string;
  /** The version's CreatedDate. */
  readonly createdAt: string;
  readonly value: SecretValue;
}

/** A source account's Secrets Manager in one Region, read through the puller role. */
export interface SecretsSource {
  /** Every secret not scheduled for deletion, with tags and versions (ListSecrets, every page). */
  list(): Promise<SecretMeta[]>;
  /** One version's value (GetSecretValue by VersionId). */
  read(arn: string, versionId: string): Promise<SecretVersionValue>;
}

/** The versions worth keeping: every labelled version but a rotation's pending one. */
const kept = (secret: SecretMeta) => secret.versions.filter((v) => v.labels.some((label) => label !== PENDING));

export async function pullSecrets(
  ctx: PullContext,
  settings: SecretsPullSettings,
  source: SecretsSource,
): Promise<PullRunSummary> {
  const run = await ValueRun.start(ctx, 'secrets');
  const secrets = await source.list();
  const rules = { scope: settings.scope, prefixes: settings.namePrefixes };
  const changed: { secret: SecretMeta; read: string[]; current: string }[] = [];
  for (const secret of secrets) {
    if (!pulledInScope(rules, secret)) continue;
    run.inScope(secret.name);
    const current = secret.versions.find((v) => v.labels.includes(CURRENT))?.id;
    if (!current) {
      await run.fail(resourceOf(secret), `the secret has no ${CURRENT} version`);
      continue;
    }
    const held = run.recordOf(secret.name);
    const heldIds = held?.state === 'held' ? (held.heldVersionIds ?? []) : [];
    const read = kept(secret)
      .map((v) => v.id)
      .filter((id) => !heldIds.includes(id) || (id === current && held?.latest?.id !== current));
    if (read.length === 0) run.unchanged();
    else changed.push({ secret, read, current });
  }

  await eachLimited(changed, READ_CONCURRENCY, async ({ secret, read, current }) => {
    if (run.shouldStop()) return;
    const versions: PulledVersion[] = [];
    try {
      for (const id of read) {
        const version = await source.read(secret.arn, id);
        versions.push({
          id,
          modifiedAt: version.createdAt,
          value: version.value,
          valueType: version.value.form,
          labels: secret.versions.find((v) => v.id === id)?.labels ?? [],
        });
      }
    } catch (error) {
      if (error instanceof RetryLaterError) return run.throttledBy(error);
      return run.fail(resourceOf(secret), failureReason(error));
    }
    // Oldest first, the current one last among equal times.
    const rank = (v: PulledVersion) => `${v.modifiedAt}${v.id === current ? '1' : '0'}`;
    versions.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
    await run.store(resourceOf(secret), versions, current);
  });
  if (run.stoppedEarly) await run.continueLater();
  await run.markMissing(new Set(secrets.map((s) => s.name)));
  return run.summary();
}

const resourceOf = (s: SecretMeta) => ({ name: s.name, arn: s.arn });
