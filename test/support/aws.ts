/**
 * Test helpers to act as one AWS account on the shared emulator. Each test
 * takes fresh account ids, so tests never see each other's resources and one
 * emulator serves the whole run without resets.
 */
import { randomInt } from 'node:crypto';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { assumeLocalRole } from '../../cli/local/accounts';

/** The region tests use when they do not care. */
export const DEFAULT_TEST_REGION = 'eu-west-1';

/** The role assumed in every test account; moto does not require it to exist. */
export const TEST_ROLE_NAME = 'bunker-test';

// moto's fallback account for requests it cannot attribute: never hand it out,
// or a misrouted request would land in a "fresh" account.
const MOTO_DEFAULT_ACCOUNT = '123456789012';
const issued = new Set<string>([MOTO_DEFAULT_ACCOUNT]);

/**
 * A random 12-digit account id not handed out before in this process.
 * Across processes (vitest workers) uniqueness is by chance: 9 * 10^11 ids.
 */
export function freshAccountId(): string {
  for (;;) {
    // randomInt's upper bound is exclusive; no leading zero, so ids print the same as numbers.
    const id = String(randomInt(100_000_000_000, 1_000_000_000_000));
    if (!issued.has(id)) {
      issued.add(id);
      return id;
    }
  }
}

/**
 * Credentials of `account`, obtained like Bunker's own cross-account access
 * and through the same code as the local mode: STS AssumeRole into
 * `arn:aws:iam::<account>:role/bunker-test`. moto records the issued key
 * under that account, so requests signed with it land there. Cached per
 * endpoint and account.
 */
export function credentialsFor(endpoint: string, account: string): Promise<AwsCredentialIdentity> {
  return assumeLocalRole(endpoint, account, TEST_ROLE_NAME);
}

/** What an SDK v3 client needs to act as `account` in `region` on the emulator. */
export interface TestClientConfig {
  endpoint: string;
  region: string;
  credentials: AwsCredentialIdentityProvider;
}

/**
 * Configuration for any SDK v3 client, as in `new RDSClient(clientConfig(endpoint, account, region))`.
 * The credentials are fetched on the client's first request (S3 clients also need `forcePathStyle: true`).
 */
export function clientConfig(
  endpoint: string,
  account: string,
  region: string = DEFAULT_TEST_REGION,
): TestClientConfig {
  return { endpoint, region, credentials: () => credentialsFor(endpoint, account) };
}
