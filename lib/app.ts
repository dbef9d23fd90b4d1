/**
 * The whole deployment from one validated configuration: the vault in the
 * backup account and a source stack per production account and Region,
 * checked by cdk-nag. `bin/bunker-app.ts` reads the file; tests call
 * {@link buildApp} with a config object.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { sourceStackName, vaultNames } from '../lambdas/core/names';
import type { BunkerConfig } from './config/schema';
import { SourceStack } from './stacks/source-stack';
import { VaultRegionStack } from './stacks/vault-region-stack';
import { VaultStack } from './stacks/vault-stack';

/** What {@link buildApp} made, for callers that synthesize or inspect it. */
export interface BunkerApp {
  readonly app: App;
  readonly vault: VaultStack;
  /** The backup account's second Region, when `backup.secondRegion` is set. */
  readonly vaultRegion?: VaultRegionStack;
  /** In configuration order: each source account, each of its Regions. */
  readonly sources: readonly SourceStack[];
}

/**
 * Adds Bunker's stacks to `app` and registers the cdk-nag AwsSolutions
 * checks on it, so any unacknowledged finding fails synthesis.
 */
export function buildApp(config: BunkerConfig, app: App = new App()): BunkerApp {
  const vault = new VaultStack(app, vaultNames(config.name).stack, { config });
  const second = config.backup.secondRegion;
  const vaultRegion = second
    ? new VaultRegionStack(app, `${vaultNames(config.name).stack}-${second}`, { config, region: second })
    : undefined;
  const sources = config.sources.flatMap((source) =>
    source.regions.map(
      (region, index) =>
        new SourceStack(app, sourceStackName(config.name, source.account, region), {
          config,
          sourceAccount: source.account,
          region,
          // IAM is global: the account's first listed Region makes the reader role.
          createReaderRole: index === 0,
        }),
    ),
  );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, vault, ...(vaultRegion ? { vaultRegion } : {}), sources };
}
