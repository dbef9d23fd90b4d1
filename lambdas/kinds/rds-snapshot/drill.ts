/**
 * The drill of an RDS DB snapshot copy: restore it as a DB instance in the
 * isolated place (the drill DB subnet group and security group, the
 * engine's default port, no public access, no deletion protection), check
 * it against the copy's record, ask its engine for its protocol's greeting
 * through the probe, and delete it without a final snapshot.
 *
 * "The engine answers" is the probe's (lambdas/core/drill/probe.ts): on the
 * endpoint RDS reports, the engine speaks its own wire protocol (a MySQL
 * handshake naming the copy's version, PostgreSQL's answers to an
 * SSLRequest and a StartupMessage, …). No credentials are used and no data
 * is read: it proves the engine runs on the restored storage and serves,
 * not that every table is intact.
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
import { engineAnswerCheck, engineCheckName, engineDefaultPort, type EngineProbe } from '../../core/drill/probe';
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

/**
 * The restored engine answers its protocol's greeting on the endpoint RDS
 * reports, as the copy's engine (and, where the greeting names it, the
 * copy's MySQL version).
 */
export async function engineCheck(
  probe: EngineProbe,
  engine: string | undefined,
  engineVersion: string | undefined,
  address: string | undefined,
  port: number | undefined,
  database?: string,
): Promise<DrillCheck> {
  if (!engine) return check('engine answers', false, 'RDS reports no engine');
  if (!address || !port) return check(engineCheckName(engine), false, 'RDS reports no endpoint');
  const request = { engine, address, port, ...(database ? { database } : {}) };
  return engineAnswerCheck(engine, engineVersion, await probe.answer(request));
}

export class RdsSnapshotDrill implements DrillModule {
  readonly kind = 'rds' as const;

  constructor(
    private readonly rds: RDSClient,
    private readonly settings: DrillSettings,
    private readonly facts: CopyFacts,
    private readonly probe: EngineProbe,
  ) {}

  private async instance(id: string): Promise<DBInstance | undefined> {
    const answer = await orMissing(this.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })));
    return answer?.DBInstances?.[0];
  }

  async start(drillId: string, subject: DrillSubject): Promise<Record<string, string>> {
    const id = drillResourceName(this.settings.prefix, drillId);
    if (!(await this.instance(id))) {
      const snapshot = (
        await orMissing(this.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: subject.copyId })))
      )?.DBSnapshots?.[0];
      if (!snapshot) throw new Error(`the DB snapshot copy ${subject.copyId} is not found`);
      const port = snapshot.Engine ? engineDefaultPort(snapshot.Engine) : undefined;
      try {
        await this.rds.send(
          new RestoreDBInstanceFromDBSnapshotCommand({
            DBInstanceIdentifier: id,
            DBSnapshotIdentifier: subject.copyId,
            DBSubnetGroupName: this.settings.place.dbSubnetGroup,
            VpcSecurityGroupIds: [this.settings.place.securityGroupId],
            PubliclyAccessible: false,
            // The engine's default port: the drill network's rules admit the probe on exactly those.
            ...(port ? { Port: port } : {}),
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
      await engineCheck(
        this.probe,
        instance.Engine,
        snapshot?.EngineVersion,
        instance.Endpoint?.Address,
        instance.Endpoint?.Port,
        // Oracle's service name; the other engines' first exchange names no database.
        instance.DBName,
      ),
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
