/**
 * What running Bunker costs a month at a given load, from what the
 * simulation counted per artifact (requests, invocations, Lambda time) and
 * from what the stacks deploy per account (alarms, metrics). A model, not a
 * bill: the prices are a table here, with their Region and date, printed
 * beside the result so a reader can check them and rerun with others.
 *
 * Snapshot storage is excluded from `usdPerMonth` and shown apart
 * (`storageUsdPerTiBMonth`): it depends on what production keeps, not on
 * Bunker. KMS key-months are listed apart too (a fixed number of keys).
 * AWS charges nothing per RDS or EC2 API request (Describe, Copy, Share,
 * tags), nor for STS AssumeRole or for AWS service events on the default
 * event bus, so those requests are counted by the simulation but cost 0 here.
 */
import type { SimulationResult } from '../sim/simulation';

/**
 * Prices in US dollars, us-east-1, no free tier applied. Each was checked
 * against a published page (listed in {@link PRICE_SOURCES}) on 2026-11-22;
 * none differed from the figures first written from memory.
 */
export const PRICES = {
  region: 'us-east-1',
  date: '2026-11 (checked)',
  lambdaPerMillionRequests: 0.2,
  /** Arm64, the functions' architecture (lib/constructs/bunker-function.ts). */
  lambdaPerGbSecondArm: 0.0000133334,
  sqsPerMillionRequests: 0.4,
  snsPerMillionPublishes: 0.5,
  /** On-demand, after the November 2024 price cut. */
  dynamoPerMillionWriteUnits: 0.625,
  dynamoPerMillionReadUnits: 0.125,
  kmsPer10kRequests: 0.03,
  kmsPerKeyMonth: 1,
  cloudwatchPerMetricMonth: 0.3,
  cloudwatchPerAlarmMonth: 0.1,
  cloudwatchLogsPerGbIngested: 0.5,
  eventBridgePerMillionCustomEvents: 1,
  s3PerThousandPuts: 0.005,
  s3PerThousandGets: 0.0004,
  /** Storage, shown apart: EBS snapshot standard tier; RDS backup storage beyond the free allowance. */
  ebsSnapshotPerGbMonth: 0.05,
  rdsSnapshotPerGbMonth: 0.095,
} as const;

/** Where each price was checked: the AWS pricing page where one was stored, else a page quoting it. */
export const PRICE_SOURCES: Readonly<Record<string, string>> = {
  lambda:
    'https://aws.amazon.com/lambda/pricing/ (Arm $0.0000133334/GB-s, $0.20/M requests, as quoted by https://cloudchipr.com/blog/aws-lambda-pricing)',
  sqs: 'https://cloudburn.io/blog/amazon-sqs-pricing (standard $0.40/M requests, first 100 B a month)',
  sns: 'https://awsnegotiations.com/sqs-sns-cost-optimization.html (standard topic $0.50/M publishes); https://docs.aws.amazon.com/sns/latest/dg/sns-batch-api-actions.html (PublishBatch: up to 10 messages a request, publishing cost down by up to 10 times)',
  dynamodb:
    'https://airbyte.com/data-engineering-resources/dynamodb-pricing (on-demand $0.625/M write, $0.125/M read request units, US East)',
  kms: 'https://aws.amazon.com/kms/pricing/ ($1/key-month, each rotated backing key +$1; $0.03 per 10,000 requests; the caller of a cross-account use pays)',
  cloudwatch:
    'https://aws.amazon.com/cloudwatch/pricing/ (free tier) and https://signoz.io/guides/cloudwatch-pricing ($0.30/metric-month for the first 10,000); alarms $0.10 and logs $0.50/GB ingested: https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-logs-alarms-dashboards/',
  storage:
    'RDS backup storage ~$0.095/GB-month beyond the free allowance (https://c3x.dev/resources/aws/aws_db_snapshot/; the backup account has no databases, so no allowance); EBS snapshot standard $0.05/GB-month not confirmed by a stored page',
};

export interface CostLoad {
  readonly accounts: number;
  readonly artifactsPerDay: number;
  readonly kinds: number;
  /** Regions per source account. */
  readonly regionsPerAccount: number;
}

/** The issue's load: 50 accounts × 2,000 artifacts a day. */
export const ISSUE_LOAD: CostLoad = { accounts: 50, artifactsPerDay: 50 * 2_000, kinds: 4, regionsPerAccount: 1 };

/** What the model assumes beyond the counts, each stated once. */
const ASSUMED = {
  lambdaMemoryGb: 0.25,
  /**
   * The daily look over every kept record, which the burst cannot show: a stored record is under 1 KB
   * (the simulation's: 98% of writes, median 0.85 KB; `itemOf`), and a Query reads half a unit per 4 KB
   * (eventually consistent). The run's own reads and writes are not assumed: it measures them.
   */
  readUnitsPerListedItem: 0.125,
  /** SQS: SNS's delivery, the mapping's ReceiveMessage per batch and DeleteMessageBatch per batch. */
  sqsRequestsPerMessage: 1,
  sqsRequestsPerBatch: 2,
  /** The event source mapping long-polls even when idle: 5 pollers, one 20-second poll each. */
  sqsIdlePollsPerMonth: 5 * 3 * 60 * 24 * 30,
  /** KMS requests per copy: the service decrypts under the share key and encrypts under the backup key (grants, data keys). */
  kmsRequestsPerCopy: 4,
  /** The source side when the run had no agents: per artifact, the agent's invocations (snapshot event, intermediate ready, receipt). */
  agentInvocationsPerArtifact: 3,
  agentSecondsPerInvocation: 0.6,
  /** Its one SNS publish. */
  agentPublishesPerArtifact: 1,
  /** The agents' hourly sweep, per account and Region. */
  agentSweepsPerMonth: 24 * 30,
  agentSecondsPerSweep: 2,
  /** Log lines per invocation, about 1 KB in all. */
  logBytesPerInvocation: 1_024,
  sweepsPerMonth: 4 * 24 * 30,
  /** Alarms: the vault's (dead letters, 3 function errors, pruner 2, audit 2 per kind and its errors), 3 per source stack. */
  vaultAlarms: (kinds: number) => 1 + 3 + 2 + 2 * kinds + 1,
  sourceAlarmsPerAccountRegion: 3,
  /**
   * Metrics: the audit's 3 per kind and 3 per vault, and 2 per kind for each account only while it has
   * something breaching or at risk (none in a month where every artifact is copied on time); the agents'
   * 2 per account and Region.
   */
  accountsInBreach: 0,
  vaultMetrics: (kinds: number, accountsInBreach: number) => 2 * kinds * accountsInBreach + 3 * kinds + 3,
  sourceMetricsPerAccountRegion: 2,
  /** Keys: the vault's backup-data, intake and inventory keys; a share and a receipts key per source account and Region. */
  vaultKeys: 3,
  sourceKeysPerAccountRegion: 2,
  /**
   * The sweep's daily look over every available record (for copies finished under settings that since ask for
   * more): it lists every record kept, a cost of time and of what is kept, not of the burst, so it is added
   * apart from the counts. The follow-up every 6 hours reads only the unfinished copies (`followup:` in the
   * queue index), counted with the rest.
   */
  sweepAvailableListingsPerDay: 1,
  /** Records kept: a copy's record lives as long as the copy (`retentionDays`, 35 assumed). */
  retentionDays: 35,
  /** Snapshot storage, for the figure shown apart: 1 TiB kept. */
  storageGb: 1_024,
};

export interface CostLine {
  readonly item: string;
  readonly usdPerMonth: number;
  readonly basis: string;
}

/**
 * The cheapest a design can be that announces each artifact and records it
 * on the services Bunker uses, billed as Bunker is billed: the notifications
 * published in batches of 10 (`PublishBatch`; a batch under 64 KB is one
 * request), SQS deliveries received and deleted in batches of 10, a Lambda
 * invocation per batch, and one on-demand DynamoDB write of one unit per
 * artifact. Nothing else (no KMS, no reads, no retries, no receipts). Only
 * another billing model goes lower: provisioned write capacity, or several
 * artifacts packed into one item.
 */
export function floorOf(load: CostLoad = ISSUE_LOAD): { readonly usdPerMonth: number; readonly arithmetic: string } {
  const monthly = load.artifactsPerDay * 30;
  const sns = (monthly / 10 / 1e6) * PRICES.snsPerMillionPublishes;
  const sqs = ((monthly * 0.2) / 1e6) * PRICES.sqsPerMillionRequests;
  const lambda = (monthly / 10 / 1e6) * PRICES.lambdaPerMillionRequests;
  const dynamo = (monthly / 1e6) * PRICES.dynamoPerMillionWriteUnits;
  return {
    usdPerMonth: money(sns + sqs + lambda + dynamo),
    arithmetic:
      `${(monthly / 1e6).toFixed(1)} M artifacts a month: SNS ${(monthly / 10 / 1e6).toFixed(1)} M batches of 10 x $${PRICES.snsPerMillionPublishes}/M = $${sns.toFixed(2)}; ` +
      `SQS ${((monthly * 0.2) / 1e6).toFixed(1)} M x $${PRICES.sqsPerMillionRequests}/M = $${sqs.toFixed(2)}; ` +
      `Lambda ${(monthly / 10 / 1e6).toFixed(1)} M x $${PRICES.lambdaPerMillionRequests}/M = $${lambda.toFixed(2)}; ` +
      `DynamoDB ${(monthly / 1e6).toFixed(1)} M units x $${PRICES.dynamoPerMillionWriteUnits}/M = $${dynamo.toFixed(2)}`,
  };
}

export interface CostFigures {
  /** Orchestration: Lambda, SQS, SNS, DynamoDB, KMS requests, EventBridge, S3 requests. */
  readonly usdPerMonth: number;
  /** CloudWatch alarms, metrics and logs, apart: they scale with accounts, not artifacts. */
  readonly observabilityUsdPerMonth: number;
  /** Excluded and listed apart. */
  readonly keysUsdPerMonth: number;
  readonly storageUsdPerTiBMonth: { readonly ebs: number; readonly rds: number };
  readonly lines: readonly CostLine[];
  readonly assumptions: Readonly<Record<string, unknown>>;
  /** What the cheapest design that notifies and records each artifact would cost at the same load ({@link floorOf}). */
  readonly floor: { readonly usdPerMonth: number; readonly arithmetic: string };
}

const money = (usd: number) => Math.round(usd * 100) / 100;

/** The monthly cost at `load`, from the per-artifact counts of one simulated burst. */
export function costModel(run: SimulationResult, load: CostLoad = ISSUE_LOAD): CostFigures {
  const n = Math.max(1, run.artifacts);
  const monthly = load.artifactsPerDay * 30;
  const per = (value: number) => value / n;
  const counts = run.counts;
  const vaultInvocations = (counts.invocations.intake ?? 0) + (counts.invocations.completion ?? 0);
  const vaultSeconds = (counts.lambdaSeconds.intake ?? 0) + (counts.lambdaSeconds.completion ?? 0);
  const sweepSeconds = (counts.lambdaSeconds.sweep ?? 0) / Math.max(1, counts.invocations.sweep ?? 1);
  const accountRegions = load.accounts * load.regionsPerAccount;
  // With the agents simulated, their invocations, time, publishes and intermediate copies are counted
  // (their hourly sweeps during the burst included); without, they are the assumptions above.
  const agentInvocations = run.agents
    ? monthly * per(counts.invocations['source-agent'] ?? 0)
    : monthly * ASSUMED.agentInvocationsPerArtifact + accountRegions * ASSUMED.agentSweepsPerMonth;
  const agentSeconds = run.agents
    ? monthly * per(counts.lambdaSeconds['source-agent'] ?? 0)
    : monthly * ASSUMED.agentInvocationsPerArtifact * ASSUMED.agentSecondsPerInvocation +
      accountRegions * ASSUMED.agentSweepsPerMonth * ASSUMED.agentSecondsPerSweep;
  const intermediateCopies = run.agents
    ? (counts.requests['source-rds.copySnapshot'] ?? 0) +
      (counts.requests['source-ec2.copySnapshot'] ?? 0) +
      (counts.requests['source-ec2.copyImage'] ?? 0)
    : n;

  const lambdaRequests = monthly * per(vaultInvocations) + ASSUMED.sweepsPerMonth + agentInvocations;
  const lambdaGbSeconds =
    ASSUMED.lambdaMemoryGb * (monthly * per(vaultSeconds) + ASSUMED.sweepsPerMonth * sweepSeconds + agentSeconds);
  const sqsRequests =
    monthly *
      (per(counts.messagesReceived) * ASSUMED.sqsRequestsPerMessage +
        per(counts.batches) * ASSUMED.sqsRequestsPerBatch) +
    ASSUMED.sqsIdlePollsPerMonth;
  const snsPublishes =
    monthly *
    ((run.agents ? per(counts.notifications) : ASSUMED.agentPublishesPerArtifact) +
      per(counts.requests['receipts.send'] ?? 0));
  const keptRecords = load.artifactsPerDay * ASSUMED.retentionDays;
  const availableListingUnits =
    ASSUMED.sweepAvailableListingsPerDay * 30 * keptRecords * ASSUMED.readUnitsPerListedItem;
  // Measured in the run from the stored items' sizes (`readUnitsOf`), and the daily look the burst cannot show.
  const readUnits = monthly * per(counts.dynamoReadUnits) + availableListingUnits;
  // Measured in the run: each item's stored size (`itemOf`), in units of 1 KB begun, doubled in transactions.
  const writeUnits = monthly * per(counts.dynamoWriteUnits + counts.dynamoIndexWriteUnits);
  const indexWriteUnits = monthly * per(counts.dynamoIndexWriteUnits);
  // Each copy's KMS requests: the vault's copies under the backup key, the agents' intermediates under the share key.
  const kmsRequests = monthly * per((counts.copiesStarted + intermediateCopies) * ASSUMED.kmsRequestsPerCopy);

  const lines: CostLine[] = [
    {
      item: 'Lambda requests',
      usdPerMonth: (lambdaRequests / 1e6) * PRICES.lambdaPerMillionRequests,
      basis: `${Math.round(lambdaRequests).toLocaleString('en')} invocations`,
    },
    {
      item: 'Lambda compute',
      usdPerMonth: lambdaGbSeconds * PRICES.lambdaPerGbSecondArm,
      basis: `${Math.round(lambdaGbSeconds).toLocaleString('en')} GB-s`,
    },
    {
      item: 'SQS requests',
      usdPerMonth: (sqsRequests / 1e6) * PRICES.sqsPerMillionRequests,
      basis: `${Math.round(sqsRequests).toLocaleString('en')} requests`,
    },
    {
      item: 'SNS publishes',
      usdPerMonth: (snsPublishes / 1e6) * PRICES.snsPerMillionPublishes,
      basis: `${Math.round(snsPublishes).toLocaleString('en')} notifications and receipts`,
    },
    {
      item: 'DynamoDB reads',
      usdPerMonth: (readUnits / 1e6) * PRICES.dynamoPerMillionReadUnits,
      basis: `${Math.round(readUnits).toLocaleString('en')} read units, ${Math.round(availableListingUnits).toLocaleString('en')} of them the sweep's look over ${keptRecords.toLocaleString('en')} kept records`,
    },
    {
      item: 'DynamoDB writes',
      usdPerMonth: (writeUnits / 1e6) * PRICES.dynamoPerMillionWriteUnits,
      basis: `${Math.round(writeUnits).toLocaleString('en')} write units, ${Math.round(indexWriteUnits).toLocaleString('en')} of them the indexes' entries`,
    },
    {
      item: 'KMS requests',
      usdPerMonth: (kmsRequests / 1e4) * PRICES.kmsPer10kRequests,
      basis: `${Math.round(kmsRequests).toLocaleString('en')} requests`,
    },
    { item: 'EventBridge', usdPerMonth: 0, basis: 'AWS service events on the default bus and schedules: no charge' },
    { item: 'S3 requests', usdPerMonth: 0, basis: 'none on the snapshot path (pulled kinds not modelled)' },
  ];
  const alarms = ASSUMED.vaultAlarms(load.kinds) + accountRegions * ASSUMED.sourceAlarmsPerAccountRegion;
  const metrics =
    ASSUMED.vaultMetrics(load.kinds, ASSUMED.accountsInBreach) + accountRegions * ASSUMED.sourceMetricsPerAccountRegion;
  const logGb = ((lambdaRequests + ASSUMED.sweepsPerMonth) * ASSUMED.logBytesPerInvocation) / 1024 ** 3;
  const observability: CostLine[] = [
    { item: 'CloudWatch alarms', usdPerMonth: alarms * PRICES.cloudwatchPerAlarmMonth, basis: `${alarms} alarms` },
    {
      item: 'CloudWatch metrics',
      usdPerMonth: metrics * PRICES.cloudwatchPerMetricMonth,
      basis: `${metrics} custom metrics (per account only while in breach; the agents' dominate)`,
    },
    {
      item: 'CloudWatch Logs',
      usdPerMonth: logGb * PRICES.cloudwatchLogsPerGbIngested,
      basis: `${logGb.toFixed(2)} GB ingested`,
    },
  ];
  const keys = ASSUMED.vaultKeys + accountRegions * ASSUMED.sourceKeysPerAccountRegion;
  const sum = (items: readonly CostLine[]) => money(items.reduce((s, line) => s + line.usdPerMonth, 0));
  return {
    usdPerMonth: sum(lines),
    observabilityUsdPerMonth: sum(observability),
    keysUsdPerMonth: money(keys * PRICES.kmsPerKeyMonth),
    storageUsdPerTiBMonth: {
      ebs: money(ASSUMED.storageGb * PRICES.ebsSnapshotPerGbMonth),
      rds: money(ASSUMED.storageGb * PRICES.rdsSnapshotPerGbMonth),
    },
    lines: [...lines, ...observability].map((line) => ({ ...line, usdPerMonth: money(line.usdPerMonth) })),
    floor: floorOf(load),
    assumptions: {
      load,
      prices: PRICES,
      priceSources: PRICE_SOURCES,
      perArtifactFrom: `the ${run.artifacts.toLocaleString('en')}-artifact fleet burst (sweeps over its backlog included)`,
      sourceAgents: run.agents ? 'simulated: counted' : 'not simulated: assumed',
      ...Object.fromEntries(Object.entries(ASSUMED).filter(([, v]) => typeof v !== 'function')),
      alarms,
      metrics,
      keys,
      excluded: 'snapshot storage (storageUsdPerTiBMonth), KMS key-months (keysUsdPerMonth), the free tier',
    },
  };
}
