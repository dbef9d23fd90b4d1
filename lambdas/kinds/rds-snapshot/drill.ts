/**
 * The drill of an RDS DB snapshot copy: restore it as a DB instance in the
 * isolated place (the drill DB subnet group and security group, no public
 * access, no deletion protection), check it against the copy's record,
 * delete it without a final snapshot.
 *
 * "The engine answers" needs a connection: credentials for the restored
 * database and a network path into the isolated VPC, which a drill does not
 * have yet. What is checked instead is what RDS reports (status, engine and
 * version, key, size, endpoint); connecting is a step for later.
 */
import {
  type DBInstance,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  type RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { drillResourceName, drillTags } from '../../core/drill/names';
import type { DrillSettings } from '../../core/drill/settings';
import type { DrillCheck, DrillModule, DrillSubject, RestoreProgress } from '../../core/drill/types';
import { alreadyExists, check, type CopyFacts, keyCheck, orMissing, sizeCheck } from '../../adapters/drill/checks';

/** RDS statuses of a DB instance (or cluster) that will not become available by themselves. */
export const RDS_FAILED_STATUSES = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-option-group',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'restore-error',
  'storage-full',
]);

export function rdsProgress(status: string | undefined, what: string): RestoreProgress {
  if (status === undefined) return { state: 'failed', detail: `the restored ${what} is gone` };
  if (status === 'available') return { state: 'usable', detail: `${what} available` };
  if (RDS_FAILED_STATUSES.has(status)) return { state: 'failed', detail: `${what} ${status}` };
  return { state: 'pending', detail: `${what} ${status}` };
}

/** The restore is in the drill's place: its subnet group and only its security group. */
export function placeCheck(subnetGroup: string | undefined, groups: readonly string[], settings: DrillSettings) {
  const ok =
    subnetGroup === settings.place.dbSubnetGroup && groups.length === 1 && groups[0] === settings.place.securityGroupId;
  return check(
    'isolated',
    ok,
    ok
      ? `in subnet group ${subnetGroup} with only security group ${groups[0]}`
      : `in subnet group ${subnetGroup ?? 'none'} with security groups ${groups.join(', ') || 'none'}, expected ${settings.place.dbSubnetGroup} and ${settings.place.securityGroupId}`,
  );
}

export function endpointCheck(address: string | undefined, port: number | undefined): DrillCheck {
  // Named for what it proves: RDS reports where the engine listens. Nobody connected to it.
  return check(
    'engine endpoint',
    Boolean(address && port),
    address && port ? `RDS reports an endpoint on port ${port} (no connection made)` : 'no endpoint reported',
  );
}

export class RdsSnapshotDrill implements DrillModule {
  readonly kind = 'rds' as const;

  constructor(
    private readonly rds: RDSClient,
    private readonly settings: DrillSettings,
    private readonly facts: CopyFacts,
  ) {}

  private async instance(id: string): Promise<DBInstance | undefined> {
    const answer = await orMissing(this.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })));
    return answer?.DBInstances?.[0];
  }

  async start(drillId: string, subject: DrillSubject): Promise<Record<string, string>> {
    const id = drillResourceName(this.settings.prefix, drillId);
    if (!(await this.instance(id))) {
      try {
        await this.rds.send(
          new RestoreDBInstanceFromDBSnapshotCommand({
            DBInstanceIdentifier: id,
            DBSnapshotIdentifier: subject.copyId,
            DBSubnetGroupName: this.settings.place.dbSubnetGroup,
            VpcSecurityGroupIds: [this.settings.place.securityGroupId],
            PubliclyAccessible: false,
            MultiAZ: false,
            DeletionProtection: false,
            AutoMinorVersionUpgrade: false,
            CopyTagsToSnapshot: false,
            Tags: drillTags(this.settings.prefix, drillId),
          }),
        );
      } catch (error) {
        // A replayed start: the first one's restore is there.
        if (!alreadyExists(error)) throw error;
      }
    }
    return { dbInstance: id };
  }

  async progress(handle: Readonly<Record<string, string>>): Promise<RestoreProgress> {
    return rdsProgress((await this.instance(handle.dbInstance))?.DBInstanceStatus, `DB instance ${handle.dbInstance}`);
  }

  async validate(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<DrillCheck[]> {
    const instance = await this.instance(handle.dbInstance);
    if (!instance) return [check('status', false, `DB instance ${handle.dbInstance} is gone`)];
    const record = await this.facts.record(subject.artifactId);
    const snapshot = (
      await orMissing(this.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: subject.copyId })))
    )?.DBSnapshots?.[0];
    const engine = record?.engine ?? snapshot?.Engine;
    return [
      check(
        'status',
        instance.DBInstanceStatus === 'available',
        `DB instance ${instance.DBInstanceStatus ?? 'unknown'}`,
      ),
      check(
        'engine',
        instance.Engine === engine && instance.EngineVersion === snapshot?.EngineVersion,
        `${instance.Engine ?? '?'} ${instance.EngineVersion ?? '?'}, the copy is ${engine ?? '?'} ${snapshot?.EngineVersion ?? '?'}`,
      ),
      keyCheck(instance.StorageEncrypted, instance.KmsKeyId, this.settings.backupKeyArn),
      sizeCheck(instance.AllocatedStorage, record?.sizeGiB),
      check(
        'not public',
        instance.PubliclyAccessible !== true,
        `publicly accessible: ${instance.PubliclyAccessible === true}`,
      ),
      placeCheck(
        instance.DBSubnetGroup?.DBSubnetGroupName,
        (instance.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId ?? ''),
        this.settings,
      ),
      endpointCheck(instance.Endpoint?.Address, instance.Endpoint?.Port),
    ];
  }

  async tearDown(handle: Readonly<Record<string, string>>): Promise<boolean> {
    const id = handle.dbInstance;
    if (!id) return true;
    const instance = await this.instance(id);
    if (!instance) return true;
    if (instance.DBInstanceStatus !== 'deleting') {
      await orMissing(
        this.rds.send(
          new DeleteDBInstanceCommand({
            DBInstanceIdentifier: id,
            SkipFinalSnapshot: true,
            DeleteAutomatedBackups: true,
          }),
        ),
      );
    }
    return (await this.instance(id)) === undefined;
  }
}
