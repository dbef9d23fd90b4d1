/**
 * The whole deployment from one validated configuration: the vault in the
 * backup account, a source stack per listed production account and Region,
 * and with organizational units the org stack (a StackSet of the source
 * stack) and its asset buckets in the management account, all checked by
 * cdk-nag. `bin/bunker-app.ts` reads the file; tests call
 * {@link buildApp} with a config object.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { sourceStackName, vaultNames } from '../lambdas/core/names';
import type { BunkerConfig } from './config/schema';
import { orgStackName } from '../lambdas/core/enrolment/names';
import { OrgAssetsStack, OrgStack, orgAssetsStackName } from './stacks/org-stack';
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
  /** The StackSet and org-reader role in the management account, when `organization` is set. */
  readonly org?: OrgStack;
  /** The StackSet's per-Region asset buckets in the management account, deployed before {@link org}. */
  readonly orgAssets: readonly OrgAssetsStack[];
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
  const organization = config.organization;
  const orgRegions = [...new Set((organization?.units ?? []).flatMap((unit) => unit.regions))];
  const orgAssets = orgRegions.map(
    (region) => new OrgAssetsStack(app, orgAssetsStackName(config.name, region), { config, region }),
  );
  const org = organization ? new OrgStack(app, orgStackName(config.name), { config }) : undefined;
  // The code must be in every Region's bucket before the org stack copies it there.
  for (const assets of orgAssets) org?.addStackDependency(assets);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, vault, ...(vaultRegion ? { vaultRegion } : {}), sources, ...(org ? { org } : {}), orgAssets };
}
