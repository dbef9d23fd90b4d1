/**
 * The demo scenario as a test: what `make demo` shows is what this asserts.
 * It runs on the shared emulator with the demo's fixed account ids, which no
 * other test uses (they take fresh random ids).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DemoResult } from '../../cli/demo';
import { runDemo } from '../../cli/demo';
import { demoVerdicts } from '../../cli/demo-report';
import { emulatorEndpoint } from '../support/emulator';

describe('make demo', () => {
  let result: DemoResult;
  const progress: string[] = [];

  beforeAll(async () => {
    result = await runDemo(emulatorEndpoint(), (line) => progress.push(line));
  }, 180_000);

  it('passes every check it prints', () => {
    const failed = demoVerdicts(result).filter((v) => !v.ok);
    expect(failed).toEqual([]);
  });

  it('ends with a passed drill of every kind it backs up, each restore torn down', () => {
    const kinds = [...new Set(result.drills.map((d) => d.kind))].sort();
    expect(kinds).toEqual(['ami', 'aurora', 'dynamodb', 'ebs', 'rds', 'secrets', 'ssm']);
    for (const drill of result.drills) {
      expect(drill.last, `${drill.kind} ${drill.resource}`).toMatchObject({ outcome: 'passed', tornDown: true });
      expect(drill.last.checks.every((check) => check.ok)).toBe(true);
    }
  });

  it('copies each in-scope source snapshot once into the backup account under its own key', () => {
    const available = result.records.filter((r) => r.status === 'available');
    const byKind = (kind: string) => available.filter((r) => r.kind === kind);
    expect(new Set(byKind('rds-snapshot').map((r) => r.sourceResourceId))).toEqual(
      new Set(['payments-db', 'payments-ledger', 'storefront-db']),
    );
    expect(byKind('aurora-cluster-snapshot').map((r) => r.sourceResourceId)).toEqual([
      'payments-ledger-cluster',
      'payments-ledger-cluster',
    ]);
    expect(byKind('ebs-snapshot')).toHaveLength(1);
    expect(byKind('ami')).toHaveLength(1);
    expect(available).toHaveLength(9);
    // Every copy read back from the backup account with the service's own Describe, kind by kind.
    expect(new Set(result.checks.map((c) => c.kind))).toEqual(
      new Set(['rds-snapshot', 'aurora-cluster-snapshot', 'ebs-snapshot', 'ami']),
    );
    expect(result.checks).toHaveLength(available.length);
    for (const check of result.checks) {
      expect(check).toMatchObject({ exists: true, underBackupKey: true, account: result.config.backup.account });
    }
    expect(new Set(available.map((r) => r.targetId)).size).toBe(available.length);
  });

  it('leaves the untagged database out of scope', () => {
    expect(result.records.some((r) => r.sourceResourceId === 'payments-scratch' && r.status !== 'rejected')).toBe(
      false,
    );
  });

  it('rejects each hostile or broken message with its reason', () => {
    const all = result.records.filter((r) => r.status === 'rejected').map((r) => r.reason ?? '');
    // The AMI's and its snapshot's ids are the emulator's: matched by form.
    const ami = all.filter((reason) => reason.startsWith('AMI '));
    expect(ami).toHaveLength(1);
    expect(ami[0]).toMatch(
      /^AMI ami-[0-9a-f]+ has backing snapshots not shared with the backup account: snap-[0-9a-f]+$/,
    );
    const reasons = all.filter((reason) => !reason.startsWith('AMI '));
    expect(reasons.sort()).toEqual(
      [
        'DB instance payments-scratch is out of scope: it does not match the tag bunker:backup=true',
        'RDS DB snapshot scratch-unshared is not shared with the backup account 111111111111',
        'message does not match notification schema v2: (message): 1 unknown key(s), first "\\u001b]0;pwned\\u0007\\u001b[2J"',
        'message is not JSON',
        'message too large: 10026 bytes, limit 4096',
        'names account 333333333333 but was published on the intake topic of account 222222222222',
        'names account 444444444444 but was published on the intake topic of account 222222222222',
        'unsupported notification version 3; supported: 1, 2',
      ].sort(),
    );
    // Attributed to the account whose topic carried them, never to the account the text names.
    expect(new Set(result.records.filter((r) => r.status === 'rejected').map((r) => r.sourceAccount))).toEqual(
      new Set(['222222222222']),
    );
  });

  it('makes no second copy when every notification is delivered again', () => {
    expect(result.copiesBeforeReplay).toBeGreaterThan(0);
    expect(result.copiesAfterReplay).toBe(result.copiesBeforeReplay);
    expect(result.secondRun.messagesProcessed).toBe(result.copiesBeforeReplay);
  });

  it('pulls the in-scope parameters, secrets and tables of the payments account and nothing else', () => {
    const names = (kind: string) =>
      result.pulled
        .filter((r) => r.kind === kind)
        .map((r) => r.sourceId)
        .sort();
    expect(names('secret')).toEqual(['payments/api-key', 'payments/signing-key']);
    expect(names('dynamodb-table')).toEqual(['payments-orders', 'payments-sessions']);
    expect(names('ssm-parameter')).toHaveLength(16);
    expect(names('ssm-parameter')).not.toContain('/payments/scratch');
    expect(names('ssm-parameter')).not.toContain('/analytics/token');
    expect(new Set(result.pulled.map((r) => `${r.sourceAccount} ${r.state}`))).toEqual(new Set(['222222222222 held']));
    const password = result.pulled.find((r) => r.sourceId === '/payments/db/password');
    expect(password).toMatchObject({ valueType: 'SecureString', count: 2 });
    expect(password?.checksum).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const orders = result.pulled.find((r) => r.sourceId === 'payments-orders');
    expect(orders).toMatchObject({ count: 300 });
  });

  it('keeps every pulled object in the vault bucket under the backup-data key, locked', () => {
    expect(result.vault.objects).toBeGreaterThanOrEqual(16 + 1 + 3 + 4);
    expect(result.vault.underBackupKey).toBe(result.vault.objects);
    expect(result.vault.locked).toBe(result.vault.objects);
  });

  it('reports its progress step by step', () => {
    expect(progress.filter((line) => /^\d\. /.test(line))).toHaveLength(7);
  });
});
