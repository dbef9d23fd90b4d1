/**
 * The organization, read through the org-reader role of the management (or
 * delegated administrator) account: the only Organizations calls the vault
 * makes, each through the SDK's own paginator.
 */
import {
  ChildType,
  OrganizationsClient,
  paginateListAccountsForParent,
  paginateListChildren,
} from '@aws-sdk/client-organizations';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { OrgAccount, OrganizationDirectory } from '../../core/enrolment/types';
import { type AwsContext, clientConfig } from '../aws-context';

export class SdkOrganizationDirectory implements OrganizationDirectory {
  constructor(private readonly client: OrganizationsClient) {}

  async accountsIn(parentId: string): Promise<OrgAccount[]> {
    const accounts: OrgAccount[] = [];
    for await (const page of paginateListAccountsForParent({ client: this.client }, { ParentId: parentId })) {
      for (const account of page.Accounts ?? []) {
        if (account.Id) accounts.push({ id: account.Id, status: account.Status ?? 'UNKNOWN' });
      }
    }
    return accounts;
  }

  async childUnits(parentId: string): Promise<string[]> {
    const units: string[] = [];
    const pages = paginateListChildren(
      { client: this.client },
      { ParentId: parentId, ChildType: ChildType.ORGANIZATIONAL_UNIT },
    );
    for await (const page of pages) for (const child of page.Children ?? []) if (child.Id) units.push(child.Id);
    return units;
  }
}

/**
 * An Organizations client acting as `roleArn` (the org-reader role). The
 * service is global: its endpoint is in us-east-1 (aws-cn: cn-northwest-1,
 * aws-us-gov: us-gov-west-1), whatever the vault's Region.
 */
export function orgReaderClient(context: AwsContext, roleArn: string, partition = 'aws'): OrganizationsClient {
  const credentials = fromTemporaryCredentials({
    params: { RoleArn: roleArn, RoleSessionName: 'bunker-enrolment' },
    ...(context.credentials ? { masterCredentials: context.credentials } : {}),
    clientConfig: clientConfig(context),
  });
  return new OrganizationsClient(clientConfig({ ...context, credentials }, ORGANIZATIONS_REGION[partition]));
}

const ORGANIZATIONS_REGION: Record<string, string> = {
  aws: 'us-east-1',
  'aws-cn': 'cn-northwest-1',
  'aws-us-gov': 'us-gov-west-1',
};
