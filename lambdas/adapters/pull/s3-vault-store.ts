/**
 * The vault store on S3: the backup account's versioned bucket with Object
 * Lock (a default retention) encrypted under the backup-data key. Every
 * write is `If-None-Match: *`, so a key is written once and a retried or
 * racing write finds it there (412) instead of making a second version:
 * one immutable object per value version, by construction.
 */
import { GetObjectCommand, NoSuchKey, PutObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import type { VaultStore } from '../../core/pull/types';
import { type AwsContext, clientConfig } from '../aws-context';

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
const nameOf = (error: unknown) => (error as { name?: string })?.name;

export class S3VaultStore implements VaultStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly kmsKeyArn: string,
  ) {}

  async putOnce(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          IfNoneMatch: '*',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: this.kmsKeyArn,
          BucketKeyEnabled: true,
        }),
      );
      return true;
    } catch (error) {
      // 412: the key is taken. 409: a concurrent conditional write of the same key is in flight; it wins.
      if (nameOf(error) === 'PreconditionFailed' || statusOf(error) === 412) return false;
      if (nameOf(error) === 'ConditionalRequestConflict' || statusOf(error) === 409) return false;
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return answer.Body ? await answer.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (error instanceof NoSuchKey || nameOf(error) === 'NoSuchKey' || statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) {
        if (object.Key) out.push({ key: object.Key, size: object.Size ?? 0 });
      }
    }
    return out;
  }
}

/** An S3 client for the vault bucket (path-style on the emulator). */
export function vaultS3Client(context: AwsContext): S3Client {
  return new S3Client({ ...clientConfig(context), ...(context.endpoint ? { forcePathStyle: true } : {}) });
}
