/**
 * Pulling SSM parameters: DescribeParameters (metadata only: name, type,
 * Version, LastModifiedDate; 50 a page) finds what changed since the last
 * pull, and only the changed parameters are read, with GetParameters (10
 * names a call, decrypted). An unchanged run over 10,000 parameters is 200
 * Describe pages and nothing else: no value read, no KMS decrypt, no write.
 * GetParametersByPath would read (and decrypt) every value on every run, 10
 * a page. A parameter that changed more than once between two pulls has its
 * missed versions read from its history, so every version is kept.
 */
import { RetryLaterError } from '../../errors';
import type { SecretValue } from '../secret-value';
import { pulledInScope } from '../scope';
import type { PullContext, PulledRecord, PullRunSummary, SsmPullSettings } from '../types';
import { eachLimited, failureReason, type PulledVersion, ValueRun } from '../values';

export const SSM_PARAMETER_TYPES = ['String', 'StringList', 'SecureString'] as const;
export type SsmParameterType = (typeof SSM_PARAMETER_TYPES)[number];

/** GetParameters takes at most 10 names. */
export const SSM_READ_BATCH = 10;
/** Read batches in flight at once: well under SSM's ~40 GetParameters a second, the SDK's adaptive retry does the rest. */
const READ_CONCURRENCY = 4;

/** What DescribeParameters says of a parameter: never its value. */
export interface SsmParameterMeta {
  readonly name: string;
  readonly type: SsmParameterType;
  readonly version: string;
  readonly modifiedAt: string;
  readonly arn?: string;
}

export interface SsmParameterValue extends SsmParameterMeta {
  readonly value: SecretValue;
}

/** A source account's Parameter Store in one Region, read through the puller role. */
export interface SsmSource {
  /** Every parameter, metadata only (DescribeParameters, every page). */
  describe(): Promise<SsmParameterMeta[]>;
  /**
   * Tags of the tagged parameters, by name, read in bulk (Resource Groups
   * Tagging API), only those carrying `filter` when it is given.
   */
  tags(filter?: { key: string; value: string }): Promise<Map<string, Record<string, string>>>;
  /** Current values of at most {@link SSM_READ_BATCH} parameters; names the source no longer has are `missing`. */
  read(names: readonly string[]): Promise<{ values: SsmParameterValue[]; missing: string[] }>;
  /**
   * The versions of `name` after `afterVersion`, oldest first, decrypted
   * (GetParameterHistory; SSM keeps the newest 100); `undefined` when the
   * parameter is gone.
   */
  history(name: string, afterVersion: number): Promise<SsmParameterValue[] | undefined>;
}

/**
 * Whether versions came and went since the held one: SSM numbers a
 * parameter's versions 1, 2, 3…, so a jump of more than one means versions
 * the vault never saw, read from the parameter's history so a restore can
 * go back to any of them. (A parameter made again starts at 1 with a later
 * time; its number is then not above the held one.)
 */
function skippedVersions(held: PulledRecord | undefined, parameter: SsmParameterMeta): number | undefined {
  const latest = held?.latest;
  if (!latest) return undefined;
  const heldVersion = Number(latest.id);
  const version = Number(parameter.version);
  return Number.isInteger(heldVersion) && version > heldVersion + 1 && parameter.modifiedAt > latest.modifiedAt
    ? heldVersion
    : undefined;
}

export async function pullSsm(ctx: PullContext, settings: SsmPullSettings, source: SsmSource): Promise<PullRunSummary> {
  const run = await ValueRun.start(ctx, 'ssm');
  const parameters = await source.describe();
  const { scope } = settings;
  const tags = 'tag' in scope ? await source.tags(scope.tag) : new Map<string, Record<string, string>>();
  const rules = { scope: settings.scope, prefixes: settings.paths };
  const changed: SsmParameterMeta[] = [];
  const gapped: { parameter: SsmParameterMeta; after: number }[] = [];
  for (const parameter of parameters) {
    if (!pulledInScope(rules, { name: parameter.name, arn: parameter.arn, tags: tags.get(parameter.name) ?? {} })) {
      continue;
    }
    run.inScope(parameter.name);
    const held = run.recordOf(parameter.name);
    // The version number alone is not enough: a parameter deleted and made again starts at 1.
    if (
      held?.state === 'held' &&
      held.latest?.id === parameter.version &&
      held.latest.modifiedAt === parameter.modifiedAt
    ) {
      run.unchanged();
      continue;
    }
    const after = skippedVersions(held, parameter);
    if (after === undefined) changed.push(parameter);
    else gapped.push({ parameter, after });
  }

  const batches: SsmParameterMeta[][] = [];
  for (let i = 0; i < changed.length; i += SSM_READ_BATCH) batches.push(changed.slice(i, i + SSM_READ_BATCH));
  await eachLimited(batches, READ_CONCURRENCY, async (batch) => {
    if (run.shouldStop()) return;
    await readAndStore(run, source, batch);
  });
  await eachLimited(gapped, READ_CONCURRENCY, async ({ parameter, after }) => {
    if (run.shouldStop()) return;
    await readHistoryAndStore(run, source, parameter, after);
  });
  if (run.stoppedEarly) await run.continueLater();
  await run.markMissing(new Set(parameters.map((p) => p.name)));
  return run.summary();
}

/** One GetParameters call; when it fails (a KMS key one parameter uses), each parameter alone, so one failure stays one. */
async function readAndStore(run: ValueRun, source: SsmSource, batch: readonly SsmParameterMeta[]): Promise<void> {
  let read: Awaited<ReturnType<SsmSource['read']>>;
  try {
    read = await source.read(batch.map((p) => p.name));
  } catch (error) {
    if (error instanceof RetryLaterError) return run.throttledBy(error);
    if (batch.length === 1) return run.fail(resourceOf(batch[0]), failureReason(error));
    for (const parameter of batch) {
      if (!run.shouldStop()) await readAndStore(run, source, [parameter]);
    }
    return;
  }
  for (const value of read.values) {
    const version: PulledVersion = {
      id: value.version,
      modifiedAt: value.modifiedAt,
      value: value.value,
      valueType: value.type,
    };
    await run.store(resourceOf(value), [version], version.id);
  }
  // Deleted between Describe and read: seen missing now.
  for (const name of read.missing) await run.markDeleted(name);
}

/** Every version since `after`, one GetParameterHistory walk: the versions between two pulls are kept too. */
async function readHistoryAndStore(
  run: ValueRun,
  source: SsmSource,
  parameter: SsmParameterMeta,
  after: number,
): Promise<void> {
  let history: SsmParameterValue[] | undefined;
  try {
    history = await source.history(parameter.name, after);
  } catch (error) {
    if (error instanceof RetryLaterError) return run.throttledBy(error);
    return run.fail(resourceOf(parameter), failureReason(error));
  }
  if (!history) return run.markDeleted(parameter.name);
  const newest = history.at(-1);
  if (!newest) return run.fail(resourceOf(parameter), `the history of version ${parameter.version} came back empty`);
  const versions: PulledVersion[] = history.map((v) => ({
    id: v.version,
    modifiedAt: v.modifiedAt,
    value: v.value,
    valueType: v.type,
  }));
  await run.store(resourceOf(newest), versions, newest.version);
}

const resourceOf = (p: SsmParameterMeta) => ({ name: p.name, arn: p.arn, valueType: p.type });
