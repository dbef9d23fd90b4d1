/**
 * SDK clients that act in a source account through its read-only reader
 * role. One client per service, account and Region, kept for warm
 * invocations; the SDK refreshes the role's temporary credentials before
 * they expire.
 */
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { readerRoleArn } from '../core/names';
import { type AwsContext, clientConfig } from './aws-context';

export class ReaderRoleClients<C> {
  private readonly clients = new Map<string, C>();

  constructor(
    private readonly context: AwsContext,
    private readonly prefix: string,
    private readonly partition: string,
    private readonly create: (config: ReturnType<typeof clientConfig>) => C,
    private readonly sessionName = 'bunker-vault',
  ) {}

  /** A client acting as `account`'s reader role in `region`. */
  clientFor(account: string, region: string): C {
    const key = `${account}/${region}`;
    let client = this.clients.get(key);
    if (!client) {
      const credentials = fromTemporaryCredentials({
        params: {
          RoleArn: readerRoleArn(this.prefix, account, region, this.partition),
          RoleSessionName: this.sessionName,
        },
        ...(this.context.credentials ? { masterCredentials: this.context.credentials } : {}),
        clientConfig: clientConfig(this.context),
      });
      client = this.create(clientConfig({ ...this.context, credentials }, region));
      this.clients.set(key, client);
    }
    return client;
  }
}

/** `{Key, Value}` lists (RDS, EC2) as a record. */
export function tagsOf(list: readonly { Key?: string; Value?: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).filter((t) => t.Key).map((t) => [t.Key as string, t.Value ?? '']));
}

/** A record as a `{Key, Value}` list. */
export function tagList(tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
