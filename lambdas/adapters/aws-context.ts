/**
 * Where the adapters' SDK clients point. In Lambda only the Region is set
 * and credentials come from the function's role; the local mode and the
 * tests add the emulator's endpoint and an account's credentials. Nothing
 * else differs between the two.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export interface AwsContext {
  readonly region: string;
  /** The local emulator's URL; unset in AWS. */
  readonly endpoint?: string;
  /** Unset in AWS: the SDK's default chain (the Lambda role) applies. */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

/**
 * Client settings every adapter uses. Throttling and transient faults are
 * retried by the SDK's own adaptive retry strategy (client-side rate
 * limiting plus exponential backoff), not by hand-written loops.
 */
export function clientConfig(context: AwsContext, region = context.region) {
  return {
    region,
    maxAttempts: 6,
    retryMode: 'adaptive' as const,
    ...(context.endpoint ? { endpoint: context.endpoint } : {}),
    ...(context.credentials ? { credentials: context.credentials } : {}),
  };
}
