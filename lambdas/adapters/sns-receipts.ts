/**
 * Sends the vault's receipts to the source accounts' receipts topics, one
 * SNS client per Region, with the vault Lambda's own credentials (the
 * topic's policy admits the vault's roles, nothing else).
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { receiptsTopicArn } from '../core/names';
import type { Receipt, ReceiptSender } from '../core/receipts';
import { type AwsContext, clientConfig } from './aws-context';

export class SnsReceiptSender implements ReceiptSender {
  private readonly clients = new Map<string, SNSClient>();

  constructor(
    private readonly context: AwsContext,
    private readonly prefix: string,
    private readonly partition: string,
  ) {}

  private clientFor(region: string): SNSClient {
    let client = this.clients.get(region);
    if (!client) {
      client = new SNSClient(clientConfig(this.context, region));
      this.clients.set(region, client);
    }
    return client;
  }

  async send(receipt: Receipt): Promise<void> {
    await this.clientFor(receipt.region).send(
      new PublishCommand({
        TopicArn: receiptsTopicArn(this.prefix, receipt.account, receipt.region, this.partition),
        Message: JSON.stringify(receipt),
      }),
    );
  }
}
