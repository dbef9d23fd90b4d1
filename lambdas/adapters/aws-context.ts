/**
 * Where the adapters' SDK clients point. In Lambda only the Region is set
 * and credentials come from the function's role; the local mode and the
 * tests add the emulator's endpoint and an account's credentials. Nothing
 * else differs between the two.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Logger } from '@smithy/types';

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
    ...(counting ? { logger: counting.logger } : {}),
  };
}

/**
 * AWS requests per `service:operation` (`RDS:CopyDBSnapshot`,
 * `DynamoDB:TransactWriteItems`, `STS:AssumeRole`), retries included: what
 * `docs/performance.md` compares with the minimum per artifact. Read from
 * the SDK's own logger hook (each command reports its name and attempts
 * once it ends), so it counts what the clients really sent; it never
 * looks at the input or output, which may hold values.
 */
export class CallCounter {
  readonly counts = new Map<string, number>();

  readonly logger: Logger = {
    debug: () => {},
    info: (entry: unknown) => this.record(entry),
    warn: () => {},
    error: (entry: unknown) => this.record(entry),
  };

  private record(entry: unknown): void {
    const { clientName, commandName, metadata } = (entry ?? {}) as {
      clientName?: string;
      commandName?: string;
      metadata?: { attempts?: number };
    };
    if (!clientName || !commandName) return;
    const key = `${clientName.replace(/Client$/, '')}:${commandName.replace(/Command$/, '')}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + (metadata?.attempts ?? 1));
  }

  /** Requests counted, in total or of the operations `keys` names. */
  total(keys?: readonly string[]): number {
    let sum = 0;
    for (const [key, n] of this.counts) if (!keys || keys.includes(key)) sum += n;
    return sum;
  }

  /** The counts as a sorted plain object, for reports. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  reset(): void {
    this.counts.clear();
  }
}

let counting: CallCounter | undefined;

/**
 * Counts the requests of every client configured from now on (the bench and
 * the calls-per-artifact test); `undefined` stops. Off by default: then
 * the clients get no logger and pay nothing.
 */
export function countCalls(counter: CallCounter | undefined): void {
  counting = counter;
}
