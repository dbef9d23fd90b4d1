/**
 * Wires the source agent's adapters (see `./wiring`): RDS always, EC2 only
 * when EBS snapshots or AMIs are in the account's scopes, and the SNS
 * publisher of the intake topic. Nothing of the vault's (DynamoDB, KMS).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Ec2AgentDeps } from '../core/agent/ec2-agent';
import { AgentMemory } from '../core/agent/memory';
import { SettingsError } from '../core/errors';
import { type Clock, type Log, systemClock } from '../core/ports';
import type { AgentDeps } from '../core/rds-source-agent';
import type { SourceSettings } from '../core/settings';
import { AgentEc2 } from './agent-ec2';
import { type AwsContext, clientConfig } from './aws-context';
import { AgentRds, AgentRdsClusters } from './rds';
import { SnsNotificationPublisher } from './sns-publisher';

export function agentDeps(
  settings: SourceSettings,
  context: AwsContext,
  log: Log,
  clock: Clock = systemClock,
): AgentDeps & { readonly ec2Deps?: Ec2AgentDeps } {
  // The intake topic lives in the backup Region, which may differ from this one.
  const topicRegion = settings.intakeTopicArn.split(':')[3] || context.region;
  const rds = new RDSClient(clientConfig(context, settings.sourceRegion));
  const publisher = new SnsNotificationPublisher(
    new SNSClient(clientConfig(context, topicRegion)),
    settings.intakeTopicArn,
  );
  const handlesEc2 = settings.scopes['ebs-snapshot'] !== undefined || settings.scopes.ami !== undefined;
  // One per execution environment: what the agent remembers between invocations (the handler wires once).
  const memory = new AgentMemory();
  // The EC2 side's bundle seams (lib/bundling.ts): an agent deployed without EBS snapshots and AMIs in its
  // scopes is bundled with both defined as 'omit', and this folds to the first branch, without the EC2 client.
  const ec2Deps =
    process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit' && process.env.BUNKER_BUNDLE_AMI === 'omit'
      ? omittedEc2(handlesEc2)
      : handlesEc2
        ? {
            settings,
            ec2: new AgentEc2(new EC2Client(clientConfig(context, settings.sourceRegion)), {
              region: settings.sourceRegion,
              account: settings.sourceAccount,
            }),
            publisher,
            clock,
            log,
            memory,
            rpoHours: settings.rpoHours,
          }
        : undefined;
  return {
    settings,
    rds: new AgentRds(rds),
    clusters: new AgentRdsClusters(rds),
    publisher,
    clock,
    log,
    memory,
    // Each kind's RPO as configured: without it, the agents would age every original at half of 24 hours.
    rpoHours: settings.rpoHours,
    ...(ec2Deps ? { ec2Deps } : {}),
  };
}

/**
 * The EC2 side of an agent bundled without it: none. The seams are defined
 * from the same scopes the agent reads, so scopes naming EBS snapshots or
 * AMIs here were changed by hand; refused at cold start rather than ignored.
 */
function omittedEc2(handlesEc2: boolean): undefined {
  if (handlesEc2) {
    throw new SettingsError('BUNKER_SCOPES names EBS snapshots or AMIs, but this function was bundled without them');
  }
  return undefined;
}
