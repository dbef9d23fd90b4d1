import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../core/notification';
import type { NotificationPublisher } from '../core/ports';

/** Publishes notifications to the vault's intake topic in the backup account. */
export class SnsNotificationPublisher implements NotificationPublisher {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(notification: Notification): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(notification),
        MessageAttributes: {
          version: { DataType: 'Number', StringValue: String(notification.version) },
          kind: { DataType: 'String', StringValue: notification.kind },
        },
      }),
    );
  }
}
