/**
 * The one entry of a pull: the pull handler and the local mode hand it a
 * job; it runs the job's kind over that kind's source, writes the run
 * record (`pull-run:<kind>:<account>:<region>`) and logs one summary line.
 * The run record is written on every run, changed or not, so "the last
 * pull found nothing changed" is a fact in the inventory, not an absence.
 */
import { RetryLaterError } from '../errors';
import { pullSecrets, type SecretsSource } from './secrets/pull';
import { pullSsm, type SsmSource } from './ssm/pull';
import { type PullContext, type PullRunSummary, type PullSettings, pullRunId } from './types';
import { THROTTLED_DELAY_SECONDS } from './values';

export interface PullSources {
  readonly ssm?: SsmSource;
  readonly secrets?: SecretsSource;
  readonly dynamodb?: (ctx: PullContext) => Promise<PullRunSummary>;
}

/** A job for a kind the configuration does not enable, or whose source the caller did not wire. */
export class PullNotEnabledError extends Error {
  override readonly name = 'PullNotEnabledError';
}

export async function runPull(ctx: PullContext, settings: PullSettings, sources: PullSources): Promise<PullRunSummary> {
  const startedAt = ctx.clock.now().toISOString();
  const summary = await dispatch(ctx, settings, sources).catch(async (error: unknown) => {
    if (!(error instanceof RetryLaterError)) throw error;
    // Throttled while listing the source: nothing was read, the whole run goes on later.
    await ctx.continueLater(ctx.job, THROTTLED_DELAY_SECONDS);
    return throttledRun(ctx, startedAt);
  });
  const { kind, account, region } = ctx.job;
  const previous = await ctx.records.getRun(kind, account, region);
  await ctx.records.putRun({
    artifactId: pullRunId(kind, account, region),
    kind: 'pull-run',
    lastRunAt: summary.finishedAt,
    summary,
    version: (previous?.version ?? 0) + 1,
  });
  const { breaches, ...counts } = summary;
  const line = summary.continued
    ? 'pull run: continues in a new invocation'
    : summary.nothingChanged
      ? 'pull run: nothing changed'
      : 'pull run';
  if (summary.failed > 0 || breaches.length > 0) ctx.log.warn(line, { ...counts, breaches });
  else ctx.log.info(line, { ...counts, breaches });
  return summary;
}

function throttledRun(ctx: PullContext, startedAt: string): PullRunSummary {
  const { kind, account, region } = ctx.job;
  return {
    kind,
    account,
    region,
    startedAt,
    finishedAt: ctx.clock.now().toISOString(),
    inScope: 0,
    changed: 0,
    unchanged: 0,
    deleted: 0,
    failed: 0,
    dataWrites: 0,
    nothingChanged: true,
    continued: true,
    breaches: [],
  };
}

function dispatch(ctx: PullContext, settings: PullSettings, sources: PullSources): Promise<PullRunSummary> {
  const { kind, account, region } = ctx.job;
  const where = `${kind} in ${account} ${region}`;
  switch (kind) {
    case 'ssm':
      if (!settings.ssm) throw new PullNotEnabledError(`pull of ${where}: artifacts.ssm is not enabled`);
      if (!sources.ssm) throw new PullNotEnabledError(`pull of ${where}: no SSM source was given`);
      return pullSsm(ctx, settings.ssm, sources.ssm);
    case 'secrets':
      if (!settings.secrets) throw new PullNotEnabledError(`pull of ${where}: artifacts.secrets is not enabled`);
      if (!sources.secrets) throw new PullNotEnabledError(`pull of ${where}: no Secrets Manager source was given`);
      return pullSecrets(ctx, settings.secrets, sources.secrets);
    case 'dynamodb':
      if (!settings.dynamodb) throw new PullNotEnabledError(`pull of ${where}: artifacts.dynamodb is not enabled`);
      if (!sources.dynamodb) throw new PullNotEnabledError(`pull of ${where}: no DynamoDB pull was given`);
      return sources.dynamodb(ctx);
    default:
      throw new PullNotEnabledError(`pull of an unknown kind ${String(kind)}`);
  }
}
