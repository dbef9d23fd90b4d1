/**
 * Faults on every port call, without touching the doubles: {@link withFaults}
 * wraps any port object in a Proxy that, for each method call,
 *
 * - waits the call's latency on the virtual clock (the await point where
 *   other invocations run);
 * - draws throttling and 5xx answers per attempt and retries them as the
 *   SDK's adaptive retry mode does (up to {@link MAX_ATTEMPTS} attempts,
 *   exponential backoff with full jitter, every attempt counted as a
 *   request): throttling delays, it does not fail, unless every attempt is
 *   refused, when the adapter's error is thrown;
 * - counts the AWS requests the call's adapter makes (`./memory-requests`),
 *   refused ones included, by the kind of artifact the call is about;
 * - after the call took effect, crashes the invocation at the point it drew
 *   (a {@link SimulatedCrash}: the caller never hears the answer), and from
 *   then on every call of that invocation crashes too, so a core that
 *   catches errors cannot carry on as if it were alive.
 *
 * The doubles stay exactly as their own tests hold them; the Proxy is the
 * only difference between a call in a unit test and one in the simulation.
 */
import { CopyQuotaExceededError } from '../lambdas/core/errors';
import { isKindName } from '../lambdas/kinds/registry';
import type { KindName } from '../lambdas/kinds/types';
import type { SourceWaits } from './agents';
import type { EventLoop } from './clock';
import { AwsServiceError, type Prng } from './memory-aws';
import { type AnsweredCall, awsRequestsOf } from './memory-requests';
import { logNormal } from './random';

/** The SDK's attempts per call in adaptive mode (`maxAttempts` of `clientConfig`). */
export const MAX_ATTEMPTS = 6;
/** The SDK's retry backoff: 100 ms base, doubling, capped at 20 s, full jitter. */
const BASE_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 20_000;

/**
 * The process running an invocation died (out of memory, timeout, host
 * lost) after a call took effect. Not a `BunkerError` nor an AWS error: the
 * core must not recognise it as one of its own outcomes.
 */
export class SimulatedCrash extends Error {
  constructor(
    readonly port: string,
    readonly method: string,
  ) {
    super(`simulated crash after ${port}.${method}`);
    this.name = 'SimulatedCrash';
  }
}

/** One Lambda invocation, as the fault Proxy sees it. */
export class Invocation {
  /** Port calls made so far (each may be several requests). */
  calls = 0;
  crashed = false;

  /** @param crashAfterCall - the call after which the process dies; `undefined` for none. */
  constructor(
    readonly fn: string,
    readonly startedAtMs: number,
    readonly crashAfterCall?: number,
  ) {}
}

export interface FaultRates {
  /** Probability that one attempt of a call is throttled. */
  readonly throttle: number;
  /** Probability that one attempt of a call answers a 5xx. */
  readonly serverError: number;
}

export const NO_FAULTS: FaultRates = { throttle: 0, serverError: 0 };

/** One port call as the counters see it. */
export interface CountedCall {
  readonly port: string;
  readonly method: string;
  /** The artifact kind the call is about; `undefined` for calls about no one artifact (a listing). */
  readonly kind?: KindName;
  /** Attempts the SDK made of the call's first request: 1 plus its retries. */
  readonly attempts: number;
  /** AWS requests in all: the adapter's requests for the call (or a listing's pages), plus the retries. */
  readonly requests: number;
  /** Virtual ms the refused attempts cost the caller (their latency and the backoff after each), by refusal. */
  readonly waitedMs: { readonly throttle: number; readonly server: number };
}

export interface FaultOptions {
  readonly loop: EventLoop;
  /** Draws latencies, throttles, 5xx and backoff jitter. */
  readonly prng: Prng;
  readonly rates: FaultRates;
  /** Median latency of one attempt of `port.method`, in ms; drawn log-normal around it. */
  readonly latencyMs: (port: string, method: string) => number;
  /** Told of every call once it is answered (or gave up). */
  readonly count: (call: CountedCall) => void;
  /**
   * Items per page of a listing `port.method` (the SDK paginator's page), so
   * a listing of many items counts as the requests it takes; `undefined`
   * for a call that is one request.
   */
  readonly pageSize?: (port: string, method: string) => number | undefined;
  /**
   * A one-shot crash rule for tests: the first call it matches crashes its
   * invocation after taking effect, whatever the invocation drew.
   */
  readonly crashRule?: { match: (port: string, method: string) => boolean; fired: boolean };
}

/**
 * The kind of artifact a call is about, read from its arguments in the
 * port's own terms: an artifact id or pool (`rds-snapshot:…`,
 * `ami@eu-west-1`), a record or receipt (`kind`), a copy request (`ref.kind`).
 */
export function kindOfArgs(args: readonly unknown[], fallback?: KindName): KindName | undefined {
  for (const arg of args) {
    if (typeof arg === 'string') {
      const head = arg.split(/[:@]/, 1)[0];
      if (isKindName(head)) return head;
    } else if (arg && typeof arg === 'object') {
      const { kind, ref } = arg as { kind?: unknown; ref?: { kind?: unknown } };
      if (isKindName(kind)) return kind;
      if (ref && isKindName(ref.kind)) return ref.kind;
    }
  }
  return fallback;
}

/**
 * `port` with every method call going through the faults above, on behalf of
 * `invocation`. `kind` names the kind of a port that serves one (a copier),
 * or tells it from the method and arguments (EC2 serves EBS and AMIs).
 */
export function withFaults<T extends object>(
  port: T,
  name: string,
  invocation: Invocation,
  options: FaultOptions,
  kind?: KindName | ((method: string, args: readonly unknown[]) => KindName | undefined),
): T {
  return new Proxy(port, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]) => {
        const method = property;
        if (invocation.crashed) throw new SimulatedCrash(name, method);
        invocation.calls += 1;
        const { prng, rates } = options;
        let requests = 1;
        let delay = logNormal(prng, options.latencyMs(name, method), 0.5);
        let refusal: 'throttle' | 'server' | undefined;
        const waitedMs = { throttle: 0, server: 0 };
        for (;;) {
          refusal = prng.chance(rates.throttle) ? 'throttle' : prng.chance(rates.serverError) ? 'server' : undefined;
          if (!refusal || requests >= MAX_ATTEMPTS) break;
          // What this refusal cost the caller: the backoff after it and the attempt that follows.
          const backoff = prng.next() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** requests);
          const again = logNormal(prng, options.latencyMs(name, method), 0.5);
          delay += backoff;
          delay += again;
          waitedMs[refusal] += backoff + again;
          requests += 1;
        }
        const fallback = typeof kind === 'function' ? kind(method, args) : kind;
        const callKind = kindOfArgs(args, fallback);
        // The adapter's requests for the call (sim/memory-requests.ts), plus the retries of its first.
        const counted = (made: number) =>
          options.count({
            port: name,
            method,
            kind: callKind,
            attempts: requests,
            requests: requests - 1 + made,
            waitedMs,
          });
        await options.loop.sleep(delay);
        if (refusal) {
          counted(1);
          throw refusalError(refusal, name, method);
        }
        const answered = (outcome: AnsweredCall['outcome']) =>
          awsRequestsOf({ port: name, method, kind: callKind, args, outcome }, target);
        let result: unknown;
        try {
          result = await (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          // Refused by AWS itself (a copy over the quota, a snapshot gone): the requests were made all the same.
          const made = await answered({ error });
          counted(made === 'pages' ? 1 : made);
          throw error;
        }
        const made = await answered({ result });
        const size = made === 'pages' && Array.isArray(result) ? options.pageSize?.(name, method) : undefined;
        counted(made !== 'pages' ? made : size ? Math.max(1, Math.ceil((result as unknown[]).length / size)) : 1);
        const rule = options.crashRule;
        const ruled = rule !== undefined && !rule.fired && rule.match(name, method);
        if (ruled) rule.fired = true;
        if (ruled || invocation.calls === invocation.crashAfterCall) {
          invocation.crashed = true;
          throw new SimulatedCrash(name, method);
        }
        return result;
      };
    },
  });
}

/** What the adapter throws once the SDK gave up: a copy's throttling is back-pressure, the rest is AWS's error. */
function refusalError(refusal: 'throttle' | 'server', port: string, method: string): Error {
  if (refusal === 'throttle' && method === 'copy') {
    return new CopyQuotaExceededError(`ThrottlingException: Rate exceeded (${port}.${method})`);
  }
  return refusal === 'throttle'
    ? new AwsServiceError('ThrottlingException', `Rate exceeded (${port}.${method})`)
    : new AwsServiceError('InternalFailure', `The service is unavailable (${port}.${method})`);
}

/**
 * Where a faulty run's time went, by cause: what the SDK's retries of
 * throttled and failed attempts added to the calls, what a crash made its
 * trigger wait before the retry (SQS's visibility timeout, the rules'
 * retries), how long after it ended a copy whose event was lost waited to be
 * recorded, and (with agents) the source side's own account.
 */
export interface FaultWaits {
  /** Virtual hours the calls spent on refused attempts, summed over calls (concurrent calls add up). */
  readonly retryHours: { readonly throttle: number; readonly server: number };
  /** Vault invocations that crashed, and the hours their messages and events waited for the retry. */
  readonly vaultCrashes: number;
  readonly vaultCrashWaitHours: number;
  /** Vault copies whose completion event was lost: minutes from the copy's end to its record `available`. */
  readonly lostCopyEvents: { readonly copies: number; readonly meanMinutes: number; readonly maxMinutes: number };
  /** The same for copies whose event came, for comparison. */
  readonly deliveredCopyEvents: { readonly copies: number; readonly meanMinutes: number };
  /** With agents: the source side's own account (`SourceTrace`). */
  readonly source?: SourceWaits;
}

/** Sums what {@link FaultWaits} reports, as the run goes. */
export class FaultLedger {
  private readonly retryMs = { throttle: 0, server: 0 };
  private crashes = 0;
  private crashWaitMs = 0;
  /** Copies whose completion event was lost, by target id. */
  readonly lostCopyEvents = new Set<string>();

  retried(call: CountedCall): void {
    this.retryMs.throttle += call.waitedMs.throttle;
    this.retryMs.server += call.waitedMs.server;
  }

  /** A vault invocation crashed; what it was about waits `waitMs` for its trigger's retry, `items` times over. */
  crashed(waitMs: number, items = 1): void {
    this.crashes += 1;
    this.crashWaitMs += waitMs * items;
  }

  summary(
    copies: readonly { readonly targetId: string; readonly artifact: string; readonly endsAtMs: number }[],
    doneAt: ReadonlyMap<string, number>,
    source?: SourceWaits,
  ): FaultWaits {
    const hours = (ms: number) => Math.round((ms / 3_600_000) * 100) / 100;
    const minutes = (ms: number) => Math.round((ms / 60_000) * 10) / 10;
    const lost: number[] = [];
    const delivered: number[] = [];
    for (const copy of copies) {
      const done = doneAt.get(copy.artifact);
      if (done === undefined || done < copy.endsAtMs) continue;
      (this.lostCopyEvents.has(copy.targetId) ? lost : delivered).push(done - copy.endsAtMs);
    }
    const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    return {
      retryHours: { throttle: hours(this.retryMs.throttle), server: hours(this.retryMs.server) },
      vaultCrashes: this.crashes,
      vaultCrashWaitHours: hours(this.crashWaitMs),
      lostCopyEvents: {
        copies: lost.length,
        meanMinutes: minutes(mean(lost)),
        maxMinutes: minutes(Math.max(0, ...lost)),
      },
      deliveredCopyEvents: { copies: delivered.length, meanMinutes: minutes(mean(delivered)) },
      ...(source === undefined ? {} : { source }),
    };
  }
}
