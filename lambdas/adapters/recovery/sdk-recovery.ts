/**
 * The SDK side of a recovery, in the backup account: sharing its copies
 * with the recovery account (RDS and Aurora `restore`, EBS
 * `createVolumePermission`, AMI `launchPermission`), grants on the
 * backup-data key, and the alerts topic. Clients are made per Region (a
 * copy of the second hop is in the second Region, under that Region's key).
 */
import { EC2Client, ModifyImageAttributeCommand, ModifySnapshotAttributeCommand } from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand,
  DescribeKeyCommand,
  KMSClient,
  paginateListGrants,
  RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import {
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { BunkerError } from '../../core/errors';
import type { CopySharing, GrantView, KeyGrants, RecoveryAlerts, ShareTarget } from '../../core/recovery/types';
import { type AwsContext, clientConfig } from '../aws-context';

/** One client per Region, made on first use. */
class PerRegion<T> {
  private readonly clients = new Map<string, T>();

  constructor(private readonly make: (region: string) => T) {}

  in(region: string): T {
    let client = this.clients.get(region);
    if (!client) {
      client = this.make(region);
      this.clients.set(region, client);
    }
    return client;
  }
}

const isNotFound = (error: unknown) =>
  /NotFound|Malformed/.test((error as { name?: string })?.name ?? '') ||
  /InvalidSnapshot\.NotFound|InvalidAMIID\.NotFound/.test((error as { Code?: string })?.Code ?? '');

/**
 * A share AWS refuses, said with the likely reason: the service control
 * policy of `bunker scp` denies `rds:ModifyDBSnapshotAttribute` and
 * `rds:ModifyDBClusterSnapshotAttribute` on Bunker's copies to every
 * principal but the pruner and the recovery role (`<name>-recovery`), so a
 * recovery run with the caller's own rights (`--no-recovery-role`) is
 * refused where that policy is attached.
 */
function explainRefusal(error: unknown, target: ShareTarget): unknown {
  const name = (error as { name?: string })?.name ?? '';
  if (!/AccessDenied|UnauthorizedOperation/.test(name)) return error;
  const rds = target.type === 'db-snapshot' || target.type === 'cluster-snapshot';
  return new BunkerError(
    `AWS refused to share ${target.type} ${target.id} (${target.region}): ${(error as Error).message}. ` +
      (rds
        ? 'The service control policy of `bunker scp` lets only the pruner and the recovery role re-share RDS and ' +
          'Aurora copies: run without --no-recovery-role, as an IAM user of the backup account, and deploy the vault ' +
          'stack and that policy at this version (see docs/architecture.md, "Recovery into a new account").'
        : 'The recovery role (or, with --no-recovery-role, the approver) needs ec2:ModifySnapshotAttribute and ' +
          "ec2:ModifyImageAttribute on copies tagged as Bunker's in the backup account."),
    { cause: error },
  );
}

export class SdkCopySharing implements CopySharing {
  private readonly rds: PerRegion<RDSClient>;
  private readonly ec2: PerRegion<EC2Client>;

  constructor(context: AwsContext) {
    this.rds = new PerRegion((region) => new RDSClient(clientConfig(context, region)));
    this.ec2 = new PerRegion((region) => new EC2Client(clientConfig(context, region)));
  }

  async share(target: ShareTarget, account: string): Promise<void> {
    try {
      await this.modify(target, account, 'add');
    } catch (error) {
      throw explainRefusal(error, target);
    }
  }

  async unshare(target: ShareTarget, account: string): Promise<void> {
    try {
      await this.modify(target, account, 'remove');
    } catch (error) {
      // A copy the pruner deleted since is shared with nobody.
      if (isNotFound(error)) return;
      throw explainRefusal(error, target);
    }
  }

  private async modify(target: ShareTarget, account: string, how: 'add' | 'remove'): Promise<void> {
    const values = how === 'add' ? { ValuesToAdd: [account] } : { ValuesToRemove: [account] };
    const permission = how === 'add' ? { Add: [{ UserId: account }] } : { Remove: [{ UserId: account }] };
    switch (target.type) {
      case 'db-snapshot':
        await this.rds.in(target.region).send(
          new ModifyDBSnapshotAttributeCommand({
            DBSnapshotIdentifier: target.id,
            AttributeName: 'restore',
            ...values,
          }),
        );
        return;
      case 'cluster-snapshot':
        await this.rds.in(target.region).send(
          new ModifyDBClusterSnapshotAttributeCommand({
            DBClusterSnapshotIdentifier: target.id,
            AttributeName: 'restore',
            ...values,
          }),
        );
        return;
      case 'ebs-snapshot':
        await this.ec2.in(target.region).send(
          new ModifySnapshotAttributeCommand({
            SnapshotId: target.id,
            Attribute: 'createVolumePermission',
            CreateVolumePermission: permission,
          }),
        );
        return;
      case 'image':
        await this.ec2
          .in(target.region)
          .send(new ModifyImageAttributeCommand({ ImageId: target.id, LaunchPermission: permission }));
        return;
    }
  }
}

/** Grants on the backup-data key of each Region, found by its alias. */
export class SdkKeyGrants implements KeyGrants {
  private readonly kms: PerRegion<KMSClient>;

  constructor(
    context: AwsContext,
    private readonly keyAlias: string,
  ) {
    this.kms = new PerRegion((region) => new KMSClient(clientConfig(context, region)));
  }

  async keyArn(region: string): Promise<string> {
    const { KeyMetadata } = await this.kms.in(region).send(new DescribeKeyCommand({ KeyId: this.keyAlias }));
    if (!KeyMetadata?.Arn) throw new BunkerError(`the key ${this.keyAlias} of ${region} has no ARN`);
    return KeyMetadata.Arn;
  }

  async find(keyArn: string, region: string, name: string): Promise<GrantView[]> {
    const found: GrantView[] = [];
    for await (const page of paginateListGrants({ client: this.kms.in(region) }, { KeyId: keyArn })) {
      for (const grant of page.Grants ?? []) {
        if (grant.Name !== name || !grant.GrantId) continue;
        found.push({
          grantId: grant.GrantId,
          name: grant.Name,
          ...(grant.GranteePrincipal ? { grantee: grant.GranteePrincipal } : {}),
          operations: grant.Operations ?? [],
        });
      }
    }
    return found;
  }

  async create(
    keyArn: string,
    region: string,
    grant: { name: string; grantee: string; operations: readonly string[] },
  ): Promise<string> {
    const { GrantId } = await this.kms.in(region).send(
      new CreateGrantCommand({
        KeyId: keyArn,
        Name: grant.name,
        GranteePrincipal: grant.grantee,
        Operations: grant.operations as NonNullable<ConstructorParameters<typeof CreateGrantCommand>[0]['Operations']>,
      }),
    );
    if (!GrantId) throw new BunkerError(`KMS returned no grant id for ${grant.name} on ${keyArn}`);
    return GrantId;
  }

  async revoke(keyArn: string, region: string, grantId: string): Promise<void> {
    try {
      await this.kms.in(region).send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grantId }));
    } catch (error) {
      // Revoked already (a re-run): nothing is left to take back.
      if (!/NotFound/.test((error as { name?: string })?.name ?? '')) throw error;
    }
  }
}

/** The vault's alerts topic (`<prefix>-alerts`). */
export class SnsRecoveryAlerts implements RecoveryAlerts {
  private readonly sns: SNSClient;

  constructor(
    context: AwsContext,
    private readonly topicArn: string,
  ) {
    this.sns = new SNSClient(clientConfig(context));
  }

  async publish(subject: string, message: string): Promise<void> {
    // SNS allows 100 characters of subject.
    await this.sns.send(
      new PublishCommand({ TopicArn: this.topicArn, Subject: subject.slice(0, 100), Message: message }),
    );
  }
}
