/**
 * Where a restore writes, in the target account with that account's
 * credentials: Parameter Store (PutParameter with Overwrite, the type kept,
 * a SecureString under the target's default key or the key given) or
 * Secrets Manager (PutSecretValue, or CreateSecret when the name is new;
 * text or binary as the value was). PutParameter allows about 3 writes a
 * second: the client's adaptive retry paces a large restore.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { ValueTarget } from '../../core/pull/restore/values';
import { SecretValue } from '../../core/pull/secret-value';
import { type AwsContext, clientConfig } from '../aws-context';

/** A standard parameter holds at most 4 KB; a larger value needs the advanced tier. */
const STANDARD_MAX_BYTES = 4096;

const nameOf = (error: unknown) => (error as { name?: string })?.name;

export class SsmValueTarget implements ValueTarget {
  constructor(
    private readonly ssm: SSMClient,
    /** The key for SecureStrings; unset: the target account's `aws/ssm`. */
    private readonly kmsKeyId?: string,
  ) {}

  async write(name: string, valueType: string, value: SecretValue): Promise<void> {
    const text = value.reveal();
    if (typeof text !== 'string') throw new Error(`parameter ${name}: a parameter value is text, not binary`);
    if (valueType !== 'String' && valueType !== 'StringList' && valueType !== 'SecureString') {
      throw new Error(`parameter ${name}: unknown type ${valueType}`);
    }
    await this.ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: text,
        Type: valueType,
        Overwrite: true,
        ...(valueType === 'SecureString' && this.kmsKeyId ? { KeyId: this.kmsKeyId } : {}),
        ...(value.bytes().length > STANDARD_MAX_BYTES ? { Tier: 'Advanced' as const } : {}),
      }),
    );
  }

  async read(name: string): Promise<SecretValue | undefined> {
    try {
      const { Parameter } = await this.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return Parameter?.Value === undefined ? undefined : SecretValue.text(Parameter.Value);
    } catch (error) {
      if (nameOf(error) === 'ParameterNotFound') return undefined;
      throw error;
    }
  }
}

export class SecretsValueTarget implements ValueTarget {
  constructor(
    private readonly client: SecretsManagerClient,
    /** The key for a secret the restore creates; unset: the target account's `aws/secretsmanager`. */
    private readonly kmsKeyId?: string,
  ) {}

  async write(name: string, _valueType: string, value: SecretValue): Promise<void> {
    const raw = value.reveal();
    const body = typeof raw === 'string' ? { SecretString: raw } : { SecretBinary: raw };
    try {
      await this.client.send(new PutSecretValueCommand({ SecretId: name, ...body }));
    } catch (error) {
      if (nameOf(error) !== 'ResourceNotFoundException') throw error;
      await this.client.send(
        new CreateSecretCommand({ Name: name, ...body, ...(this.kmsKeyId ? { KmsKeyId: this.kmsKeyId } : {}) }),
      );
    }
  }

  async read(name: string): Promise<SecretValue | undefined> {
    try {
      const answer = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      if (answer.SecretBinary !== undefined) return SecretValue.binary(answer.SecretBinary);
      return answer.SecretString === undefined ? undefined : SecretValue.text(answer.SecretString);
    } catch (error) {
      if (nameOf(error) === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }
}

/** SSM and Secrets Manager clients pace themselves: adaptive retry, with room for a long throttled stretch. */
const PULL_MAX_ATTEMPTS = 10;

export const ssmClientFor = (context: AwsContext) =>
  new SSMClient({ ...clientConfig(context), maxAttempts: PULL_MAX_ATTEMPTS });
export const secretsClientFor = (context: AwsContext) =>
  new SecretsManagerClient({ ...clientConfig(context), maxAttempts: PULL_MAX_ATTEMPTS });
