/**
 * The drill modules of the enabled kinds, on the SDK, in the backup
 * account's home Region (the isolated place is there): the snapshot kinds'
 * from their kind folders, the pulled kinds' from `pulledDrillModules`
 * (./pulled.ts).
 *
 * Each module sits behind its kind's bundle seam, as the copiers do
 * (`lambdas/adapters/copiers.ts`): a function deployed without a kind
 * leaves its module and the SDK client only it uses out of the bundle.
 *
 * The RDS and Aurora drills ask the restored engine for its greeting
 * through an {@link EngineProbe}: in-process over TCP in the local mode
 * (the emulator's endpoints are on this machine), and in AWS through the
 * probe function inside the drill network, the only thing that may reach a
 * restored database.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { vaultNames } from '../../core/names';
import type { EngineProbe } from '../../core/drill/probe';
import type { DrillSettings } from '../../core/drill/settings';
import type { DrillModules } from '../../core/drill/types';
import { AmiDrill } from '../../kinds/ami/drill';
import { AuroraClusterSnapshotDrill } from '../../kinds/aurora-cluster-snapshot/drill';
import { EbsSnapshotDrill } from '../../kinds/ebs-snapshot/drill';
import { RdsSnapshotDrill } from '../../kinds/rds-snapshot/drill';
import { type AwsContext, clientConfig } from '../aws-context';
import { DynamoInventory } from '../dynamo-inventory';
import type { CopyFacts } from './checks';
import { LambdaEngineProbe, noProbe } from './probe-lambda';
import { TcpEngineProbe } from './probe-tcp';
import { pulledDrillModules } from './pulled';

/** The probe of restored engines: TCP from here against the emulator, the probe function in AWS. */
export function engineProbe(ctx: AwsContext, settings: DrillSettings): EngineProbe {
  if (ctx.endpoint) return new TcpEngineProbe();
  if (!settings.place.probeFunction) {
    return noProbe('no probe function in the drill place (BUNKER_DRILL_PLACE): nothing can ask the engine');
  }
  return new LambdaEngineProbe(
    new LambdaClient(clientConfig(ctx, settings.backupRegion)),
    settings.place.probeFunction,
  );
}

export function drillModules(ctx: AwsContext, settings: DrillSettings): DrillModules {
  const region = settings.backupRegion;
  const inventory = new DynamoInventory(
    new DynamoDBClient(clientConfig(ctx, region)),
    settings.inventoryTable,
    vaultNames(settings.prefix).inventoryStatusIndex,
  );
  const facts: CopyFacts = { record: (artifactId) => inventory.get(artifactId) };
  const enabled = new Set(settings.kinds);
  let rds: RDSClient | undefined;
  let ec2: EC2Client | undefined;
  const rdsClient = () => (rds ??= new RDSClient(clientConfig(ctx, region)));
  const ec2Client = () => (ec2 ??= new EC2Client(clientConfig(ctx, region)));
  let probe: EngineProbe | undefined;
  const probeOf = () => (probe ??= engineProbe(ctx, settings));
  const modules: DrillModules = {};
  if (enabled.has('rds') && process.env.BUNKER_BUNDLE_RDS_SNAPSHOT !== 'omit') {
    modules.rds = new RdsSnapshotDrill(rdsClient(), settings, facts, probeOf());
  }
  if (enabled.has('aurora') && process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT !== 'omit') {
    modules.aurora = new AuroraClusterSnapshotDrill(rdsClient(), settings, facts, probeOf());
  }
  if (enabled.has('ebs') && process.env.BUNKER_BUNDLE_EBS_SNAPSHOT !== 'omit') {
    modules.ebs = new EbsSnapshotDrill(ec2Client(), settings, facts);
  }
  if (enabled.has('ami') && process.env.BUNKER_BUNDLE_AMI !== 'omit') {
    modules.ami = new AmiDrill(ec2Client(), settings);
  }
  const pulledKinds = (['ssm', 'secrets', 'dynamodb'] as const).filter((key) => enabled.has(key));
  if (pulledKinds.length > 0) {
    const pulled = pulledDrillModules(ctx, settings);
    for (const key of pulledKinds) modules[key] = pulled[key];
  }
  return modules;
}
