/**
 * The auditor on the emulator: a source whose snapshots stop arriving is
 * reported as breaching by the audit handler (its EMF metric line), by
 * `bunker status` run as a child process, and by one message on the alerts
 * topic, read from an SQS queue subscribed to it. The RPO is a fraction of
 * an hour (0.001 h, 3.6 seconds), so the copy `bunker local run` makes is
 * outside it moments later: nothing else arrives after it.
 *
 * Everything is read back without Bunker's adapters: the alert from SQS, the
 * audit record with a plain DynamoDB GetItem, the copy with RDS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readInventory } from '../../cli/inventory';
import { localContext } from '../../cli/local/accounts';
import { type LocalRunSummary, localRun } from '../../cli/local/run';
import { localUp } from '../../cli/local/up';
import { auditDeps } from '../../lambdas/adapters/audit/wiring';
import { vaultNames } from '../../lambdas/core/names';
import { silentLog } from '../../lambdas/core/ports';
import { type AuditSummary, createAuditHandler } from '../../lambdas/handlers/audit';
import type { BunkerConfigInput } from '../../lib/config/schema';
import { auditHandlerSettings } from '../../lib/constructs/audit';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { bunkerConfig, createDatabase, createSnapshot, REGION, TestClients } from './support/bunker';
import { describeRun, runBunker } from './support/cli';

const RPO_HOURS = 0.001;

describe('the auditor reports a source whose snapshots stopped arriving (bunker moto launcher)', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const extra: Partial<BunkerConfigInput> = {
    artifacts: { rds: { enabled: true, rpoHours: RPO_HOURS } },
    alerts: { emails: [], allowNoEmail: true },
  };
  const config = bunkerConfig(backup, [source], extra);
  const alertsTopicArn = `arn:aws:sns:${REGION}:${backup}:bunker-alerts`;
  const dir = mkdtempSync(join(tmpdir(), 'bunker-audit-'));
  const configFile = join(dir, 'bunker.config.json');
  let alertsQueueUrl: string;
  let run: LocalRunSummary;
  let audited: AuditSummary;
  let emf: Record<string, unknown>[];

  beforeAll(async () => {
    writeFileSync(
      configFile,
      JSON.stringify({
        name: 'bunker',
        backup: { account: backup, region: REGION },
        sources: [{ account: source, regions: [REGION] }],
        ...extra,
      }),
    );
    await localUp(config, endpoint);
    // An SQS queue on the alerts topic: what an e-mail subscriber would receive.
    const sqs = aws.sqs(backup);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'audit-alerts-reader' }));
    alertsQueueUrl = QueueUrl as string;
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: alertsQueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await aws
      .sns(backup)
      .send(new SubscribeCommand({ TopicArn: alertsTopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }));

    const rds = aws.rds(source);
    await createDatabase(rds, { id: 'orders', inScope: true });
    await createDatabase(rds, { id: 'scratch', inScope: false });
    await createSnapshot(rds, 'orders', 'orders-manual');
    run = await localRun(config, endpoint);
    const context = await localContext(endpoint, backup, REGION, vaultNames(config.name).auditRole);
    // The RPO is 3.6 seconds: wait until the newest copy is surely older.
    const taken = (await readInventory(context, config.name, {})).map((r) => Date.parse(r.sourceCreatedAt ?? ''));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.max(...taken) + 5_000 - Date.now())));

    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const metrics = new Metrics({ namespace: 'Bunker', serviceName: 'bunker-audit' });
      const handler = createAuditHandler(
        auditDeps(auditHandlerSettings(config, alertsTopicArn), context, silentLog),
        metrics,
      );
      audited = await handler();
    } finally {
      write.mockRestore();
    }
    emf = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }, 240_000);

  afterAll(() => {
    aws.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copied the snapshots, and the local run ran the auditor after the rounds', () => {
    expect(run.settled).toBe(true);
    // The manual snapshot, and the automated one the emulator takes at creation.
    expect(run.byStatus.available).toBe(2);
    expect(run.audit).toBeDefined();
  });

  it('the audit handler finds the in-scope database breaching and leaves the out-of-scope one out', () => {
    expect(audited).toMatchObject({ breaching: 1, atRisk: 0, ok: 0, unreachable: [] });
  });

  it('emits BreachingResources 1 for the source account and kind as an EMF line', () => {
    const perAccount = emf.find(
      (line) => line.Kind === 'rds-snapshot' && line.SourceAccount === source && 'BreachingResources' in line,
    );
    expect(perAccount).toMatchObject({ BreachingResources: 1 });
    // Per account only what is not zero: nothing is at risk, so no per-account metric says so.
    expect(perAccount).not.toHaveProperty('AtRiskResources');
    const metricNames = (perAccount?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] })
      .CloudWatchMetrics[0];
    expect(metricNames.Namespace).toBe('Bunker');
    expect(metricNames.Dimensions).toEqual([['Kind', 'SourceAccount']]);
    // The aggregate the alarm watches: the kind alone.
    const perKind = emf.find((line) => line.Kind === 'rds-snapshot' && !('SourceAccount' in line));
    expect(perKind).toMatchObject({ BreachingResources: 1 });
  });

  it('publishes one alert naming the account, kind, resource and reason to the alerts topic', async () => {
    const { Messages } = await aws
      .sqs(backup)
      .send(new ReceiveMessageCommand({ QueueUrl: alertsQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const bodies = (Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}') as { Subject?: string; Message?: string });
    expect(bodies).toHaveLength(1);
    // The first audit to see the breach sends it: the local run's, moments after the copy (its record is then
    // younger than the RPO: late), or the handler's (no record within the RPO: nothing shared).
    expect(bodies[0].Subject).toMatch(
      new RegExp(`^Bunker: rds-snapshot orders in ${source} breaches its RPO \\((late|nothing shared)\\)$`),
    );
    expect(bodies[0].Message).toContain(`Account:     ${source}`);
    expect(bodies[0].Message).toContain('Resource:    orders');
    expect(bodies[0].Message).toContain('Kind:        rds-snapshot');
    expect(bodies[0].Message).toContain('RPO:         0.06min');
  });

  it('keeps the breach as an audit record the copy inventory never lists', async () => {
    const context = await localContext(endpoint, backup, REGION, vaultNames(config.name).auditRole);
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ ...context }));
    const { Item } = await doc.send(
      new GetCommand({
        TableName: 'bunker-inventory',
        Key: { artifactId: `audit:rds-snapshot:${source}:${REGION}:orders` },
      }),
    );
    expect(Item).toMatchObject({ state: 'breach', resource: 'orders', version: 1 });
    expect(['late', 'nothing shared']).toContain(Item?.reason);
    expect(Item?.status).toBeUndefined();
    const copies = await readInventory(context, config.name, {});
    expect(copies.map((r) => r.artifactId).filter((id) => id.startsWith('audit:'))).toEqual([]);
  });

  it('bunker status names the breaching resource and exits 2', async () => {
    const result = await runBunker(['status', '--endpoint', endpoint, '--config', configFile], 90_000);
    expect(result.code, describeRun(result)).toBe(2);
    expect(result.stdout).toContain('orders');
    expect(result.stdout).toContain('nothing shared');
    expect(result.stdout).not.toContain('scratch');
    expect(result.stdout).toContain('1 resource(s) in scope');
    expect(Math.max(...result.stdout.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120);
  }, 100_000);

  it('bunker status --output json lists the resource with its state, reason and RPO', async () => {
    const result = await runBunker(
      ['status', '--endpoint', endpoint, '--config', configFile, '--output', 'json', '--kind', 'rds'],
      90_000,
    );
    expect(result.code, describeRun(result)).toBe(2);
    const report = JSON.parse(result.stdout) as { resources: Record<string, unknown>[] };
    expect(report.resources).toHaveLength(1);
    expect(report.resources[0]).toMatchObject({
      kind: 'rds-snapshot',
      account: source,
      region: REGION,
      resource: 'orders',
      rpoHours: RPO_HOURS,
      state: 'breach',
      reason: 'nothing shared',
    });
  }, 100_000);

  it('bunker status of an account with nothing in scope exits 0', async () => {
    const other = freshAccountId();
    const result = await runBunker(
      ['status', '--endpoint', endpoint, '--config', configFile, '--account', other],
      90_000,
    );
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toContain('No resource in scope.');
  }, 100_000);
});
