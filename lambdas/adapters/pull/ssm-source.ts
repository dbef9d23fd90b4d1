/**
 * A source account's Parameter Store through the SDK: DescribeParameters
 * (50 a page) for metadata, GetParameters (10 names, decrypted) for values,
 * the tagging API for tags. The client's adaptive retry paces the calls;
 * throttling that outlasts it becomes {@link RetryLaterError}, so the run
 * goes on later instead of failing.
 */
import {
  GetParametersCommand,
  paginateDescribeParameters,
  paginateGetParameterHistory,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { RetryLaterError } from '../../core/errors';
import { SecretValue } from '../../core/pull/secret-value';
import {
  SSM_PARAMETER_TYPES,
  type SsmParameterMeta,
  type SsmParameterType,
  type SsmParameterValue,
  type SsmSource,
} from '../../core/pull/ssm/pull';
import { type AwsContext, clientConfig } from '../aws-context';
import { classifyAwsError } from '../aws-errors';
import { taggedResources } from './tagging';
import { ssmClientFor } from './value-targets';

/** Rethrows throttling that outlasted the SDK's retries as "later", anything else as it came. */
export function laterWhenThrottled(error: unknown): never {
  if (classifyAwsError(error) === 'throttled') {
    throw new RetryLaterError('the source kept throttling after the SDK retried', { cause: error });
  }
  throw error;
}

function typeOf(type: string | undefined, name: string): SsmParameterType {
  if (SSM_PARAMETER_TYPES.includes(type as SsmParameterType)) return type as SsmParameterType;
  throw new Error(`parameter ${name} has an unknown type ${String(type)}`);
}

const iso = (date: Date | undefined) => (date ?? new Date(0)).toISOString();

/**
 * A parameter ARN names `/app/x` as `parameter/app/x` and `x` as
 * `parameter/x`: both spellings of the name a tag may belong to.
 */
function namesOfArn(arn: string): string[] {
  const at = arn.indexOf(':parameter/');
  if (at < 0) return [];
  const rest = arn.slice(at + ':parameter/'.length);
  return [`/${rest}`, rest];
}

export class SdkSsmSource implements SsmSource {
  constructor(
    private readonly ssm: SSMClient,
    private readonly tagging: ResourceGroupsTaggingAPIClient,
  ) {}

  async describe(): Promise<SsmParameterMeta[]> {
    const out: SsmParameterMeta[] = [];
    try {
      for await (const page of paginateDescribeParameters({ client: this.ssm, pageSize: 50 }, {})) {
        for (const p of page.Parameters ?? []) {
          if (!p.Name) continue;
          out.push({
            name: p.Name,
            type: typeOf(p.Type, p.Name),
            version: String(p.Version ?? 0),
            modifiedAt: iso(p.LastModifiedDate),
            ...(p.ARN ? { arn: p.ARN } : {}),
          });
        }
      }
    } catch (error) {
      laterWhenThrottled(error);
    }
    return out;
  }

  async tags(filter?: { key: string; value: string }): Promise<Map<string, Record<string, string>>> {
    const byName = new Map<string, Record<string, string>>();
    try {
      for (const [arn, tags] of await taggedResources(this.tagging, 'ssm:parameter', filter)) {
        for (const name of namesOfArn(arn)) byName.set(name, tags);
      }
    } catch (error) {
      laterWhenThrottled(error);
    }
    return byName;
  }

  async read(names: readonly string[]): Promise<{ values: SsmParameterValue[]; missing: string[] }> {
    try {
      const answer = await this.ssm.send(new GetParametersCommand({ Names: [...names], WithDecryption: true }));
      const values = (answer.Parameters ?? []).map((p) => ({
        name: p.Name ?? '',
        type: typeOf(p.Type, p.Name ?? ''),
        version: String(p.Version ?? 0),
        modifiedAt: iso(p.LastModifiedDate),
        ...(p.ARN ? { arn: p.ARN } : {}),
        value: SecretValue.text(p.Value ?? ''),
      }));
      return { values, missing: [...(answer.InvalidParameters ?? [])] };
    } catch (error) {
      return laterWhenThrottled(error);
    }
  }

  async history(name: string, afterVersion: number): Promise<SsmParameterValue[] | undefined> {
    const out: SsmParameterValue[] = [];
    try {
      const pages = paginateGetParameterHistory(
        { client: this.ssm, pageSize: 50 },
        { Name: name, WithDecryption: true },
      );
      for await (const page of pages) {
        for (const v of page.Parameters ?? []) {
          if ((v.Version ?? 0) <= afterVersion) continue;
          out.push({
            name,
            type: typeOf(v.Type, name),
            version: String(v.Version ?? 0),
            modifiedAt: iso(v.LastModifiedDate),
            value: SecretValue.text(v.Value ?? ''),
          });
        }
      }
    } catch (error) {
      if ((error as { name?: string })?.name === 'ParameterNotFound') return undefined;
      laterWhenThrottled(error);
    }
    return out.sort((a, b) => Number(a.version) - Number(b.version));
  }
}

/** The Parameter Store of `context`'s account and Region (the puller role's credentials in AWS). */
export function ssmSourceFor(context: AwsContext): SdkSsmSource {
  return new SdkSsmSource(ssmClientFor(context), new ResourceGroupsTaggingAPIClient(clientConfig(context)));
}
