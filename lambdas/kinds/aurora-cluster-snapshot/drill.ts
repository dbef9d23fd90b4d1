/**
 * The drill of an Aurora DB cluster snapshot copy: restore it as a cluster
 * in the isolated place (on the engine's default port), add one DB instance
 * once the cluster is available (a cluster without an instance serves
 * nothing), check both against the copy's record, ask the writer for its
 * engine's greeting through the probe (as the RDS drill does), and delete
 * the instance and then the cluster, without a final snapshot.
 */
import {
  CreateDBInstanceCommand,
  type DBCluster,
  type DBClusterSnapshot,
  type DBInstance,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  type RDSClient,
  RestoreDBClusterFromSnapshotCommand,
} from '@aws-sdk/client-rds';
import { drillResourceName, drillTags } from '../../core/drill/names';
import type { DrillSettings } from '../../core/drill/settings';
import type { DrillCheck, DrillModule, DrillSubject, RestoreProgress } from '../../core/drill/types';
import { alreadyExists, check, type CopyFacts, keyCheck, orMissing, sizeCheck } from '../../adapters/drill/checks';
import { engineDefaultPort, type EngineProbe } from '../../core/drill/probe';
import { engineCheck, placeCheck, rdsProgress } from '../rds-snapshot/drill';

/**
 * The drill instance's class: a provisioned class every current Aurora
 * MySQL and PostgreSQL version offers (a serverless instance would need the
 * cluster's scaling configuration, which a snapshot does not carry).
 */
export const AURORA_DRILL_INSTANCE_CLASS = 'db.r6g.large';

export class AuroraClusterSnapshotDrill implements DrillModule {
  readonly kind = 'aurora' as const;

  constructor(
    private readonly rds: RDSClient,
    private readonly settings: DrillSettings,
    private readonly facts: CopyFacts,
    private readonly probe: EngineProbe,
  ) {}

  private async cluster(id: string): Promise<DBCluster | undefined> {
    const answer = await orMissing(this.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id })));
    return answer?.DBClusters?.[0];
  }

  private async instance(id: string): Promise<DBInstance | undefined> {
    const answer = await orMissing(this.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })));
    return answer?.DBInstances?.[0];
  }

  private async snapshot(id: string): Promise<DBClusterSnapshot | undefined> {
    const answer = await orMissing(
      this.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id })),
    );
    return answer?.DBClusterSnapshots?.[0];
  }

  async start(drillId: string, subject: DrillSubject): Promise<Record<string, string>> {
    const id = drillResourceName(this.settings.prefix, drillId);
    const handle = { dbCluster: id, dbInstance: `${id}-1`, drillId };
    if (await this.cluster(id)) return handle;
    const snapshot = await this.snapshot(subject.copyId);
    if (!snapshot) throw new Error(`the cluster snapshot copy ${subject.copyId} is not found`);
    try {
      await this.rds.send(
        new RestoreDBClusterFromSnapshotCommand({
          DBClusterIdentifier: id,
          SnapshotIdentifier: subject.copyId,
          Engine: snapshot.Engine,
          EngineVersion: snapshot.EngineVersion,
          // The engine's default port: the drill network's rules admit the probe on exactly those.
          ...(snapshot.Engine && engineDefaultPort(snapshot.Engine)
            ? { Port: engineDefaultPort(snapshot.Engine) }
            : {}),
          DBSubnetGroupName: this.settings.place.dbSubnetGroup,
          VpcSecurityGroupIds: [this.settings.place.securityGroupId],
          DeletionProtection: false,
          CopyTagsToSnapshot: false,
          // No KmsKeyId: the cluster is under the copy's own key, which is what the key check reads.
          Tags: drillTags(this.settings.prefix, drillId),
        }),
      );
    } catch (error) {
      if (!alreadyExists(error)) throw error;
    }
    return handle;
  }

  async progress(handle: Readonly<Record<string, string>>): Promise<RestoreProgress> {
    const cluster = await this.cluster(handle.dbCluster);
    const clusterProgress = rdsProgress(cluster?.Status, `DB cluster ${handle.dbCluster}`);
    if (clusterProgress.state !== 'usable') return clusterProgress;
    const instance = await this.instance(handle.dbInstance);
    if (!instance) {
      try {
        await this.rds.send(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: handle.dbInstance,
            DBClusterIdentifier: handle.dbCluster,
            Engine: cluster?.Engine,
            DBInstanceClass: AURORA_DRILL_INSTANCE_CLASS,
            PubliclyAccessible: false,
            AutoMinorVersionUpgrade: false,
            Tags: drillTags(this.settings.prefix, handle.drillId ?? handle.dbCluster),
          }),
        );
      } catch (error) {
        if (!alreadyExists(error)) throw error;
      }
      const created = await this.instance(handle.dbInstance);
      return created?.DBInstanceStatus === 'available'
        ? { state: 'usable', detail: `DB instance ${handle.dbInstance} available` }
        : { state: 'pending', detail: `DB instance ${handle.dbInstance} ${created?.DBInstanceStatus ?? 'requested'}` };
    }
    return rdsProgress(instance.DBInstanceStatus, `DB instance ${handle.dbInstance}`);
  }

  async validate(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<DrillCheck[]> {
    const cluster = await this.cluster(handle.dbCluster);
    if (!cluster) return [check('status', false, `DB cluster ${handle.dbCluster} is gone`)];
    const instance = await this.instance(handle.dbInstance);
    const record = await this.facts.record(subject.artifactId);
    const snapshot = await this.snapshot(subject.copyId);
    const engine = record?.engine ?? snapshot?.Engine;
    return [
      check(
        'status',
        cluster.Status === 'available' && instance?.DBInstanceStatus === 'available',
        `DB cluster ${cluster.Status ?? 'unknown'}, DB instance ${instance?.DBInstanceStatus ?? 'missing'}`,
      ),
      check(
        'engine',
        cluster.Engine === engine && cluster.EngineVersion === snapshot?.EngineVersion,
        `${cluster.Engine ?? '?'} ${cluster.EngineVersion ?? '?'}, the copy is ${engine ?? '?'} ${snapshot?.EngineVersion ?? '?'}`,
      ),
      keyCheck(cluster.StorageEncrypted, cluster.KmsKeyId, this.settings.backupKeyArn),
      sizeCheck(cluster.AllocatedStorage, record?.sizeGiB),
      check(
        'not public',
        instance !== undefined && instance.PubliclyAccessible !== true,
        `publicly accessible: ${instance?.PubliclyAccessible === true}`,
      ),
      placeCheck(
        cluster.DBSubnetGroup,
        (cluster.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId ?? ''),
        this.settings,
      ),
      // The cluster's writer endpoint; the instance's own where the cluster reports none.
      await engineCheck(
        this.probe,
        cluster.Engine,
        snapshot?.EngineVersion,
        cluster.Endpoint ?? instance?.Endpoint?.Address,
        cluster.Endpoint ? cluster.Port : instance?.Endpoint?.Port,
      ),
    ];
  }

  async tearDown(handle: Readonly<Record<string, string>>): Promise<boolean> {
    if (!handle.dbCluster) return true;
    const instance = await this.instance(handle.dbInstance);
    if (instance && instance.DBInstanceStatus !== 'deleting') {
      await orMissing(
        this.rds.send(
          new DeleteDBInstanceCommand({ DBInstanceIdentifier: handle.dbInstance, SkipFinalSnapshot: true }),
        ),
      );
    }
    // A cluster is deleted once its instances are gone.
    if (await this.instance(handle.dbInstance)) return false;
    const cluster = await this.cluster(handle.dbCluster);
    if (!cluster) return true;
    if (cluster.Status !== 'deleting') {
      await orMissing(
        this.rds.send(
          new DeleteDBClusterCommand({
            DBClusterIdentifier: handle.dbCluster,
            SkipFinalSnapshot: true,
            DeleteAutomatedBackups: true,
          }),
        ),
      );
    }
    return (await this.cluster(handle.dbCluster)) === undefined;
  }
}
