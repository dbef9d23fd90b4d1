/**
 * A source account's Secrets Manager through the SDK: ListSecrets (100 a
 * page) carries each secret's tags and its versions' staging labels, so the
 * pull needs no tagging call and no per-secret describe; GetSecretValue per
 * version it does not hold yet.
 */
import { GetSecretValueCommand, paginateListSecrets, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretMeta, SecretsSource, SecretVersionValue } from '../../core/pull/secrets/pull';
import { SecretValue } from '../../core/pull/secret-value';
import type { AwsContext } from '../aws-context';
import { laterWhenThrottled } from './ssm-source';
import { secretsClientFor } from './value-targets';

export class SdkSecretsSource implements SecretsSource {
  constructor(private readonly client: SecretsManagerClient) {}

  async list(): Promise<SecretMeta[]> {
    const out: SecretMeta[] = [];
    try {
      const pages = paginateListSecrets({ client: this.client, pageSize: 100 }, { IncludePlannedDeletion: false });
      for await (const page of pages) {
        for (const s of page.SecretList ?? []) {
          if (!s.Name || !s.ARN) continue;
          out.push({
            name: s.Name,
            arn: s.ARN,
            versions: Object.entries(s.SecretVersionsToStages ?? {})
              .filter(([, labels]) => labels.length > 0)
              .map(([id, labels]) => ({ id, labels: [...labels] })),
            tags: Object.fromEntries((s.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
          });
        }
      }
    } catch (error) {
      laterWhenThrottled(error);
    }
    return out;
  }

  async read(arn: string, versionId: string): Promise<SecretVersionValue> {
    try {
      const answer = await this.client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: versionId }));
      const value =
        answer.SecretBinary !== undefined
          ? SecretValue.binary(answer.SecretBinary)
          : SecretValue.text(answer.SecretString ?? '');
      return { id: answer.VersionId ?? versionId, createdAt: (answer.CreatedDate ?? new Date(0)).toISOString(), value };
    } catch (error) {
      return laterWhenThrottled(error);
    }
  }
}

/** The Secrets Manager of `context`'s account and Region (the puller role's credentials in AWS). */
export function secretsSourceFor(context: AwsContext): SdkSecretsSource {
  return new SdkSecretsSource(secretsClientFor(context));
}
