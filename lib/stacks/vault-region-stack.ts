/**
 * The backup account's second Region (`backup.secondRegion`): the
 * backup-data key the vault's second-hop copies there are encrypted with,
 * under the same alias as in the vault Region. Like the vault's own key, it
 * names only the backup account and is never deleted with the stack.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { vaultNames } from '../../lambdas/core/names';
import type { BunkerConfig } from '../config/schema';

export interface VaultRegionStackProps extends StackProps {
  readonly config: BunkerConfig;
  /** The second Region of the backup account. */
  readonly region: string;
}

export class VaultRegionStack extends Stack {
  /** Encrypts the second-hop copies in this Region; usable by the backup account only. */
  public readonly backupKey: kms.Key;

  constructor(scope: Construct, id: string, props: VaultRegionStackProps) {
    const { config, region, ...stackProps } = props;
    super(scope, id, {
      stackName: `${vaultNames(config.name).stack}-${region}`,
      description: `Bunker vault (${config.name}): the backup-data key of the second Region ${region}`,
      terminationProtection: true,
      ...stackProps,
      env: { account: config.backup.account, region },
    });
    this.backupKey = new kms.Key(this, 'BackupKey', {
      alias: vaultNames(config.name).backupKeyAlias,
      description: `Bunker (${config.name}): encrypts the second-hop backup copies in ${region}; no other account may use it`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
