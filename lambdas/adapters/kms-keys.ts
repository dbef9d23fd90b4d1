/**
 * The backup-data key of each Region of the backup account, found by its
 * alias (the stacks give it the same alias in every Region) and kept for
 * warm invocations.
 */
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { vaultNames } from '../core/names';
import type { BackupKeys } from '../core/pipeline/copy';
import { type AwsContext, clientConfig } from './aws-context';

export class KmsBackupKeys implements BackupKeys {
  private readonly keys = new Map<string, Promise<string>>();

  constructor(
    private readonly context: AwsContext,
    private readonly prefix: string,
  ) {}

  keyFor(region: string): Promise<string> {
    let key = this.keys.get(region);
    if (!key) {
      key = this.describe(region);
      // A failed look-up is tried again next time, not remembered.
      key.catch(() => this.keys.delete(region));
      this.keys.set(region, key);
    }
    return key;
  }

  private async describe(region: string): Promise<string> {
    const kms = new KMSClient(clientConfig(this.context, region));
    const alias = vaultNames(this.prefix).backupKeyAlias;
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: alias }));
    if (!KeyMetadata?.Arn) throw new Error(`no backup-data key ${alias} in ${region}`);
    return KeyMetadata.Arn;
  }
}
