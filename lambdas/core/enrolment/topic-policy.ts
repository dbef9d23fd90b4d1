/**
 * The policy of an enrolled account's intake topic: the statements the vault
 * stack writes on a listed account's topic, so the transport names the
 * sender for both alike.
 */
import { agentRoleArns } from './names';

export interface TopicPolicy {
  readonly Version: '2012-10-17';
  readonly Statement: readonly Record<string, unknown>[];
}

/** Only `account`'s Bunker agents (one role per Region) may publish, and only over TLS. */
export function intakeTopicPolicy(
  prefix: string,
  account: string,
  regions: readonly string[],
  topicArn: string,
  partition = 'aws',
): TopicPolicy {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AllowPublishThroughSSLOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Resource: topicArn,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        Sid: 'ThisSourceAccountsAgentsPublish',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: 'sns:Publish',
        Resource: topicArn,
        // Of the source account, only its Bunker agents: a compromised workload there cannot flood the intake.
        Condition: { ArnEquals: { 'aws:PrincipalArn': agentRoleArns(prefix, account, regions, partition) } },
      },
    ],
  };
}
