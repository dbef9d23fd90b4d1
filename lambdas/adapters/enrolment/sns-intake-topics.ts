/**
 * Enrolled accounts' intake topics in the backup account, made like the
 * vault stack makes a listed account's: the intake key, the one-account
 * publish policy, and an enveloped subscription of the intake queue whose
 * undeliverable messages go to the intake dead-letter queue.
 */
import { CreateTopicCommand, SetTopicAttributesCommand, type SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { intakeTopicName } from '../../core/names';
import { intakeTopicPolicy } from '../../core/enrolment/topic-policy';
import type { IntakeTopics } from '../../core/enrolment/types';
import type { EnrolmentSettings } from '../../core/enrolment/settings';

export class SnsIntakeTopics implements IntakeTopics {
  constructor(
    private readonly sns: SNSClient,
    private readonly settings: Pick<
      EnrolmentSettings,
      'prefix' | 'partition' | 'intakeKeyArn' | 'intakeQueueArn' | 'deadLetterQueueArn'
    >,
  ) {}

  async ensure(account: string, regions: readonly string[]): Promise<string> {
    const { prefix, partition } = this.settings;
    // CreateTopic returns the existing topic when the name and attributes match: safe to repeat.
    const { TopicArn } = await this.sns.send(
      new CreateTopicCommand({
        Name: intakeTopicName(prefix, account),
        Attributes: { KmsMasterKeyId: this.settings.intakeKeyArn },
        Tags: [
          { Key: 'bunker:managed-by', Value: prefix },
          { Key: 'bunker:source-account', Value: account },
        ],
      }),
    );
    if (!TopicArn) throw new Error(`CreateTopic for ${account} returned no topic ARN`);
    // Set every time: the account's Regions may have changed since the topic was made.
    await this.sns.send(
      new SetTopicAttributesCommand({
        TopicArn,
        AttributeName: 'Policy',
        AttributeValue: JSON.stringify(intakeTopicPolicy(prefix, account, regions, TopicArn, partition)),
      }),
    );
    // Subscribe answers the existing subscription for the same endpoint and attributes.
    await this.sns.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: 'sqs',
        Endpoint: this.settings.intakeQueueArn,
        ReturnSubscriptionArn: true,
        Attributes: {
          // Not raw: SNS's envelope names the topic, which is how intake knows the sender.
          RawMessageDelivery: 'false',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.settings.deadLetterQueueArn }),
        },
      }),
    );
    return TopicArn;
  }
}
