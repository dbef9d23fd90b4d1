/**
 * The drill modules of the enabled kinds, on the SDK, in the backup
 * account's home Region (the isolated place is there): the snapshot kinds'
 * from their kind folders, the pulled kinds' from `pulledDrillModules`
 * (./pulled.ts). With a second Region, the snapshot kinds' calls for a
 * second-hop copy go to the same modules made with that Region's clients,
 * place and backup-data key ({@link modulesByCopyRegion}); the inventory
 * they read the copy's record from stays the vault Region's.
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
import { modulesByCopyRegion, oncePerRegion } from '../../core/drill/regions';
import type { EngineProbe } from '../../core/drill/probe';
import type { DrillPlace, DrillSettings } from '../../core/drill/settings';
import type { DrillModules } from '../../core/drill/types';
import { AmiDrill } from '../../kinds/ami/drill';
import { AuroraClusterSnapshotDrill } from '../../kinds/aurora-cluster-snapshot/drill';
import { EbsSnapshotDrill } from '../../kinds/ebs-snapshot/drill';
import { RdsSnapshotDrill } from '../../kinds/rds-snapshot/drill';
import { type AwsContext, clientConfig } from '../aws-context';
import { DynamoInventory } from '../dynamo-inventory';
import { KmsBackupKeys } from '../kms-keys';
import type { CopyFacts } from './checks';
import { LambdaEngineProbe, noProbe } from './probe-lambda';
import { TcpEngineProbe } from './probe-tcp';
import { findDrillPlace } from './place';
import { pulledDrillModules } from './pulled';

/**
 * The probe of restored engines: TCP from here against the emulator, the
 * probe function of the place's Region in AWS (each Region's place has its
 * own, under the same name).
 */
export function engineProbe(ctx: AwsContext, settings: DrillSettings, region = settings.backupRegion): EngineProbe {
  if (ctx.endpoint) return new TcpEngineProbe();
  if (!settings.place.probeFunction) {
    return noProbe('no probe function in the drill place (BUNKER_DRILL_PLACE): nothing can ask the engine');
  }
  return new LambdaEngineProbe(new LambdaClient(clientConfig(ctx, region)), settings.place.probeFunction);
}

export function drillModules(ctx: AwsContext, settings: DrillSettings): DrillModules {
  const facts = copyFacts(ctx, settings);
  const home = modulesIn(ctx, settings, settings.backupRegion, facts);
  const second = settings.secondRegion;
  if (!second) return home;
  return modulesByCopyRegion(
    home,
    settings.backupRegion,
    oncePerRegion(async (region) => {
      // Only the second Region has a place of its own; a copy anywhere else is no copy Bunker makes.
      if (region !== second) throw new Error(`no drill place in ${region}: copies are drilled in their own Region`);
      return modulesIn(ctx, await regionSettings(ctx, settings, region), region, facts);
    }),
  );
}

/**
 * The settings of drills in `region`: its place, found by the names the
 * vault Region's has (with the probe function of the same name there), and
 * its backup-data key, found by the vault's key alias. A drill's key check
 * then expects that Region's key, which is what the second hop encrypts with.
 */
export async function regionSettings(ctx: AwsContext, settings: DrillSettings, region: string): Promise<DrillSettings> {
  const context = { ...ctx, region };
  const found = await findDrillPlace(context, settings.prefix);
  const place: DrillPlace = {
    ...found,
    ...(settings.place.probeFunction ? { probeFunction: settings.place.probeFunction } : {}),
  };
  const backupKeyArn = await new KmsBackupKeys(context, settings.prefix).keyFor(region);
  return { ...settings, place, backupKeyArn };
}

/** What the kinds' modules read of a copy: its inventory record, in the vault Region whatever the copy's Region. */
function copyFacts(ctx: AwsContext, settings: DrillSettings): CopyFacts {
  const inventory = new DynamoInventory(
    new DynamoDBClient(clientConfig(ctx, settings.backupRegion)),
    settings.inventoryTable,
    vaultNames(settings.prefix).inventoryStatusIndex,
  );
  return { record: (artifactId) => inventory.get(artifactId) };
}

/** The modules of the enabled kinds with `region`'s clients; the pulled kinds only in the vault Region, their home. */
function modulesIn(ctx: AwsContext, settings: DrillSettings, region: string, facts: CopyFacts): DrillModules {
  const enabled = new Set(settings.kinds);
  let rds: RDSClient | undefined;
  let ec2: EC2Client | undefined;
  const rdsClient = () => (rds ??= new RDSClient(clientConfig(ctx, region)));
  const ec2Client = () => (ec2 ??= new EC2Client(clientConfig(ctx, region)));
  let probe: EngineProbe | undefined;
  const probeOf = () => (probe ??= engineProbe(ctx, settings, region));
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
  if (pulledKinds.length > 0 && region === settings.backupRegion) {
    const pulled = pulledDrillModules(ctx, settings);
    for (const key of pulledKinds) modules[key] = pulled[key];
  }
  return modules;
}
