/**
 * The backup account's second Region (`backup.secondRegion`): the
 * backup-data key the vault's second-hop copies there are encrypted with,
 * under the same alias as in the vault Region. Like the vault's own key, it
 * names only the backup account and is never deleted with the stack.
 *
 * The second-hop copies are guarded as the first ones are, by the same
 * construct: the key denies its deletion and policy changes to all but a
 * deployment, EventBridge rules of this Region alarm on deleted or unlocked
 * copies and key changes (CloudTrail events arrive in the Region of the
 * call; the vault's multi-Region trail logs them) to an alerts topic of
 * this Region, and locked Recycle Bin rules keep deleted EBS snapshots and
 * AMIs here.
 *
 * With drills enabled, the Region also has an isolated drill place, built
 * as the vault Region's is and with the same names: a restore can only use
 * a snapshot of its own Region, so the second-hop copies, the ones a
 * recovery uses when the vault Region is lost, are drilled here. Only the
 * place: the vault's one drill function, state machine, log and alarms
 * drill both Regions, with this Region's clients for its copies, so there
 * is one engine to trust and one set of rights to review.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { vaultNames } from '../../lambdas/core/names';
import type { BunkerConfig } from '../config/schema';
import { createAlertsTopic } from '../constructs/audit';
import { buildDrillPlace, type DrillPlaceResources, drillRoleNames } from '../constructs/drills';
import { enabledKinds } from '../config/runtime';
import { Immutability } from '../constructs/immutability';

export interface VaultRegionStackProps extends StackProps {
  readonly config: BunkerConfig;
  /** The second Region of the backup account. */
  readonly region: string;
}

export class VaultRegionStack extends Stack {
  /** Encrypts the second-hop copies in this Region; usable by the backup account only. */
  public readonly backupKey: kms.Key;
  /** Where this Region's tampering alarms go, subscribed from `alerts.emails` like the vault's. */
  public readonly alertsTopic: sns.Topic;
  /** Key denial, tampering alarms and locked Recycle Bin rules of this Region. */
  public readonly immutability: Immutability;
  /** The isolated place the second-hop copies are drilled in, when drills and a snapshot kind are enabled. */
  public readonly drillPlace?: DrillPlaceResources;

  constructor(scope: Construct, id: string, props: VaultRegionStackProps) {
    const { config, region, ...stackProps } = props;
    super(scope, id, {
      stackName: `${vaultNames(config.name).stack}-${region}`,
      description: `Bunker vault (${config.name}): the backup-data key of the second Region ${region}, its tampering alarms and Recycle Bin`,
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
    this.alertsTopic = createAlertsTopic(this, config);
    this.immutability = new Immutability(this, 'Immutability', {
      config,
      dataKeys: [this.backupKey],
      watchedKeys: [this.backupKey],
      alertsTopic: this.alertsTopic,
    });
    // Only the snapshot kinds have second-hop copies; the pulled kinds' vault is the vault Region's bucket.
    if (config.drills.enabled && enabledKinds(config).length > 0) {
      this.drillPlace = buildDrillPlace(new Construct(this, 'Drills'), config, drillRoleNames(config.name, region));
    }
  }
}
