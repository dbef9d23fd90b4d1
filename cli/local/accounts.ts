/**
 * Credentials for one account on the local emulator, obtained the way
 * Bunker gets them in AWS: STS AssumeRole into a role of that account. The
 * emulator issues a key registered to the role's account, so every request
 * signed with it lands in that account.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { AwsContext } from '../../lambdas/adapters/aws-context';

/** Any key works for the emulator's STS; it only decides which account the new key belongs to. */
const BOOTSTRAP = { accessKeyId: 'bunker-local', secretAccessKey: 'bunker-local' };

const cache = new Map<string, Promise<AwsCredentialIdentity>>();

export function assumeLocalRole(endpoint: string, account: string, roleName: string): Promise<AwsCredentialIdentity> {
  const roleArn = `arn:aws:iam::${account}:role/${roleName}`;
  const key = `${endpoint} ${roleArn}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = (async () => {
      const sts = new STSClient({ endpoint, region: 'us-east-1', credentials: BOOTSTRAP });
      const { Credentials } = await sts.send(
        new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'bunker-local' }),
      );
      if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey) {
        throw new Error(`the emulator at ${endpoint} issued no credentials for ${roleArn}`);
      }
      return {
        accessKeyId: Credentials.AccessKeyId,
        secretAccessKey: Credentials.SecretAccessKey,
        sessionToken: Credentials.SessionToken,
      };
    })();
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}

/** An {@link AwsContext} acting as `roleName` in `account` on the emulator. */
export async function localContext(
  endpoint: string,
  account: string,
  region: string,
  roleName: string,
): Promise<AwsContext> {
  return { endpoint, region, credentials: await assumeLocalRole(endpoint, account, roleName) };
}
