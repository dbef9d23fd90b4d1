/**
 * In-memory Parameter Store and Secrets Manager of one account and Region:
 * the source a pull reads (SsmSource, SecretsSource) and the target a
 * restore writes (`target()`, a ValueTarget), in one, so a test can pull,
 * change, pull again and restore into another instance. They run the same
 * contract tests as the SDK adapters on the emulator.
 *
 * Like AWS where the core depends on it: DescribeParameters pages of 50,
 * GetParameters refuses more than 10 names and fails as a whole when one
 * parameter's key fails, the tagging API pages of 100, ListSecrets pages of
 * 100 listing only labelled versions, staging labels move on each new
 * secret value (AWSCURRENT → AWSPREVIOUS → none), a parameter deleted and
 * made again starts at version 1, a secret scheduled for deletion is not
 * listed. Page and call counts are public so tests can see them.
 */
import type { SecretMeta, SecretsSource, SecretVersionValue } from '../lambdas/core/pull/secrets/pull';
import type { SsmParameterMeta, SsmParameterType, SsmParameterValue, SsmSource } from '../lambdas/core/pull/ssm/pull';
import { SecretValue } from '../lambdas/core/pull/secret-value';
import type { ValueTarget } from '../lambdas/core/pull/restore/values';
import type { Clock } from '../lambdas/core/ports';

export const DESCRIBE_PARAMETERS_PAGE = 50;
export const GET_PARAMETERS_MAX = 10;
export const TAGGING_PAGE = 100;
export const LIST_SECRETS_PAGE = 100;

/** An error shaped like the SDK's: its `name` is the AWS error code. */
export function awsError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function pages<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out.length > 0 ? out : [[]];
}

interface ParameterVersion {
  readonly version: number;
  readonly value: string;
  readonly modifiedAt: string;
}

interface Parameter {
  type: SsmParameterType;
  versions: ParameterVersion[];
  tags: Record<string, string>;
  /** Set to make every decrypted read of it fail with this error (a KMS key it cannot use). */
  failure?: string;
}

export class MemorySsm implements SsmSource {
  private readonly parameters = new Map<string, Parameter>();
  readonly calls = { describePages: 0, tagPages: 0, getParameters: 0, getParameterHistory: 0, putParameter: 0 };

  constructor(
    private readonly clock: Clock,
    readonly account = '111111111111',
    readonly region = 'eu-west-1',
  ) {}

  /** PutParameter: a new version (1 for a new name). Without `overwrite` an existing name is refused, as in AWS. */
  put(
    name: string,
    value: string,
    options: { type?: SsmParameterType; tags?: Record<string, string>; overwrite?: boolean } = {},
  ): number {
    this.calls.putParameter += 1;
    const existing = this.parameters.get(name);
    if (existing && !options.overwrite) throw awsError('ParameterAlreadyExists', `The parameter already exists.`);
    const version = (existing?.versions.at(-1)?.version ?? 0) + 1;
    const modifiedAt = this.clock.now().toISOString();
    if (existing) {
      existing.versions.push({ version, value, modifiedAt });
      if (options.type) existing.type = options.type;
    } else {
      this.parameters.set(name, {
        type: options.type ?? 'String',
        versions: [{ version, value, modifiedAt }],
        tags: { ...(options.tags ?? {}) },
      });
    }
    return version;
  }

  delete(name: string): void {
    if (!this.parameters.delete(name)) throw awsError('ParameterNotFound', `Parameter ${name} not found.`);
  }

  tag(name: string, tags: Record<string, string>): void {
    const parameter = this.parameters.get(name);
    if (!parameter) throw awsError('InvalidResourceId', `Parameter ${name} not found.`);
    Object.assign(parameter.tags, tags);
  }

  /** Makes every read of `name` fail with the error `name` (`undefined`: reads work again). */
  failReads(name: string, errorName: string | undefined): void {
    const parameter = this.parameters.get(name);
    if (parameter) parameter.failure = errorName;
  }

  /** The value and type `name` holds now, for assertions. */
  current(name: string): { type: SsmParameterType; value: string; version: number } | undefined {
    const parameter = this.parameters.get(name);
    const latest = parameter?.versions.at(-1);
    return parameter && latest && { type: parameter.type, value: latest.value, version: latest.version };
  }

  private meta(name: string, parameter: Parameter): SsmParameterMeta {
    const latest = parameter.versions.at(-1) as ParameterVersion;
    return { name, type: parameter.type, version: String(latest.version), modifiedAt: latest.modifiedAt };
  }

  async describe(): Promise<SsmParameterMeta[]> {
    const all = [...this.parameters].sort(([a], [b]) => (a < b ? -1 : 1));
    const out: SsmParameterMeta[] = [];
    for (const page of pages(all, DESCRIBE_PARAMETERS_PAGE)) {
      this.calls.describePages += 1;
      out.push(...page.map(([name, parameter]) => this.meta(name, parameter)));
    }
    return out;
  }

  async tags(filter?: { key: string; value: string }): Promise<Map<string, Record<string, string>>> {
    const tagged = [...this.parameters].filter(
      ([, p]) => Object.keys(p.tags).length > 0 && (!filter || p.tags[filter.key] === filter.value),
    );
    const out = new Map<string, Record<string, string>>();
    for (const page of pages(tagged, TAGGING_PAGE)) {
      this.calls.tagPages += 1;
      for (const [name, parameter] of page) out.set(name, { ...parameter.tags });
    }
    return out;
  }

  async read(names: readonly string[]): Promise<{ values: SsmParameterValue[]; missing: string[] }> {
    this.calls.getParameters += 1;
    if (names.length > GET_PARAMETERS_MAX) {
      throw awsError('ValidationException', `GetParameters takes at most ${GET_PARAMETERS_MAX} names`);
    }
    const failing = names.map((n) => this.parameters.get(n)).find((p) => p?.failure);
    if (failing?.failure) throw awsError(failing.failure, 'The key cannot be used to decrypt the parameter.');
    const values: SsmParameterValue[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const parameter = this.parameters.get(name);
      if (!parameter) {
        missing.push(name);
        continue;
      }
      const latest = parameter.versions.at(-1) as ParameterVersion;
      values.push({ ...this.meta(name, parameter), value: SecretValue.text(latest.value) });
    }
    return { values, missing };
  }

  async history(name: string, afterVersion: number): Promise<SsmParameterValue[] | undefined> {
    this.calls.getParameterHistory += 1;
    const parameter = this.parameters.get(name);
    if (!parameter) return undefined;
    if (parameter.failure) throw awsError(parameter.failure, 'The key cannot be used to decrypt the parameter.');
    return parameter.versions
      .filter((v) => v.version > afterVersion)
      .map((v) => ({
        name,
        type: parameter.type,
        version: String(v.version),
        modifiedAt: v.modifiedAt,
        value: SecretValue.text(v.value),
      }));
  }

  /** This Parameter Store as a restore's target. */
  target(): ValueTarget {
    return {
      write: async (name, valueType, value) => {
        if (value.form !== 'string') throw awsError('ValidationException', 'a parameter value is text');
        this.put(name, value.reveal() as string, { type: valueType as SsmParameterType, overwrite: true });
      },
      read: async (name) => {
        const current = this.current(name);
        return current && SecretValue.text(current.value);
      },
    };
  }
}

interface SecretVersion {
  readonly id: string;
  readonly createdAt: string;
  readonly value: string | Uint8Array;
  labels: string[];
}

interface Secret {
  readonly arn: string;
  versions: SecretVersion[];
  tags: Record<string, string>;
  scheduledForDeletion: boolean;
  failure?: string;
}

export class MemorySecrets implements SecretsSource {
  private readonly secrets = new Map<string, Secret>();
  private counter = 0;
  readonly calls = { listPages: 0, getSecretValue: 0, writes: 0 };

  constructor(
    private readonly clock: Clock,
    readonly account = '111111111111',
    readonly region = 'eu-west-1',
  ) {}

  /** A deterministic stand-in for Secrets Manager's random ids. */
  private nextId(): string {
    this.counter += 1;
    const hex = this.counter.toString(16).padStart(12, '0');
    return `00000000-0000-4000-8000-${hex}`;
  }

  create(name: string, value: string | Uint8Array, tags: Record<string, string> = {}): string {
    if (this.secrets.has(name)) throw awsError('ResourceExistsException', `The secret ${name} already exists.`);
    const suffix = this.nextId().slice(-6);
    this.secrets.set(name, {
      arn: `arn:aws:secretsmanager:${this.region}:${this.account}:secret:${name}-${suffix}`,
      versions: [],
      tags: { ...tags },
      scheduledForDeletion: false,
    });
    return this.putValue(name, value);
  }

  /** PutSecretValue: the new version is AWSCURRENT, the former current AWSPREVIOUS, the former previous unlabelled. */
  putValue(name: string, value: string | Uint8Array): string {
    this.calls.writes += 1;
    const secret = this.live(name);
    const id = this.nextId();
    for (const version of secret.versions) {
      version.labels = version.labels.includes('AWSCURRENT')
        ? [...version.labels.filter((l) => l !== 'AWSCURRENT'), 'AWSPREVIOUS']
        : version.labels.filter((l) => l !== 'AWSPREVIOUS');
    }
    const stored = typeof value === 'string' ? value : Uint8Array.from(value);
    secret.versions.push({ id, createdAt: this.clock.now().toISOString(), value: stored, labels: ['AWSCURRENT'] });
    return id;
  }

  /** DeleteSecret with a recovery window: the secret is no longer listed, nor readable. */
  delete(name: string): void {
    this.live(name).scheduledForDeletion = true;
  }

  failReads(name: string, errorName: string | undefined): void {
    this.live(name).failure = errorName;
  }

  /** The AWSCURRENT value of `name`, for assertions. */
  current(name: string): string | Uint8Array | undefined {
    const secret = this.secrets.get(name);
    if (!secret || secret.scheduledForDeletion) return undefined;
    return secret.versions.find((v) => v.labels.includes('AWSCURRENT'))?.value;
  }

  private live(name: string): Secret {
    const secret = this.secrets.get(name);
    if (!secret || secret.scheduledForDeletion) {
      throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return secret;
  }

  async list(): Promise<SecretMeta[]> {
    const all = [...this.secrets].filter(([, s]) => !s.scheduledForDeletion).sort(([a], [b]) => (a < b ? -1 : 1));
    const out: SecretMeta[] = [];
    for (const page of pages(all, LIST_SECRETS_PAGE)) {
      this.calls.listPages += 1;
      for (const [name, secret] of page) {
        out.push({
          name,
          arn: secret.arn,
          versions: secret.versions
            .filter((v) => v.labels.length > 0)
            .map((v) => ({ id: v.id, labels: [...v.labels] })),
          tags: { ...secret.tags },
        });
      }
    }
    return out;
  }

  async read(arn: string, versionId: string): Promise<SecretVersionValue> {
    this.calls.getSecretValue += 1;
    const secret = [...this.secrets.values()].find((s) => s.arn === arn && !s.scheduledForDeletion);
    if (!secret) throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    if (secret.failure) throw awsError(secret.failure, 'Access to the secret was denied.');
    const version = secret.versions.find((v) => v.id === versionId);
    if (!version) {
      throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value.");
    }
    const value =
      typeof version.value === 'string' ? SecretValue.text(version.value) : SecretValue.binary(version.value);
    return { id: version.id, createdAt: version.createdAt, value };
  }

  /** This Secrets Manager as a restore's target: CreateSecret, or PutSecretValue when the name exists. */
  target(): ValueTarget {
    return {
      write: async (name, _valueType, value) => {
        const secret = this.secrets.get(name);
        if (secret && !secret.scheduledForDeletion) this.putValue(name, value.reveal());
        else this.create(name, value.reveal());
      },
      read: async (name) => {
        const value = this.current(name);
        if (value === undefined) return undefined;
        return typeof value === 'string' ? SecretValue.text(value) : SecretValue.binary(value);
      },
    };
  }
}
