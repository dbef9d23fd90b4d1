/**
 * What `make demo` prints: the scenario's progress, the inventory, and the
 * checks that make the demo's claims verifiable rather than decorative.
 */
import { type DemoResult, runDemo } from './demo';
import { inventoryTable } from './inventory';

/** The demo's claims, each checked against the emulator's state. */
export function demoVerdicts(result: DemoResult): { ok: boolean; line: string }[] {
  const available = result.records.filter((r) => r.status === 'available');
  const rejected = result.records.filter((r) => r.status === 'rejected');
  const stuck = result.records.filter(
    (r) => r.status === 'copying' || r.status === 'expected' || r.status === 'failed',
  );
  const backupAccount = result.config.backup.account;
  return [
    {
      ok: available.length > 0 && result.checks.every((c) => c.exists && c.account === backupAccount),
      line: `${available.length} source snapshot(s) copied into the backup account ${backupAccount}`,
    },
    {
      ok: result.checks.length > 0 && result.checks.every((c) => c.underBackupKey),
      line: `every copy is encrypted with the backup account's own key (${result.backupKeyArn.split('/').pop()})`,
    },
    {
      ok: rejected.length > 0 && rejected.every((r) => (r.reason ?? '').length > 0),
      line: `${rejected.length} hostile or broken message(s) rejected, each with its reason`,
    },
    {
      ok: result.copiesAfterReplay === result.copiesBeforeReplay,
      line: `duplicate notifications made no second copy (${result.copiesBeforeReplay} before, ${result.copiesAfterReplay} after)`,
    },
    {
      ok: stuck.length === 0 && result.firstRun.settled && result.secondRun.settled,
      line: 'nothing left pending, copying or failed',
    },
  ];
}

/** Runs the demo and prints it; resolves to whether every claim held. */
export async function printDemo(endpoint: string, say: (line: string) => void): Promise<boolean> {
  const result = await runDemo(endpoint, say);
  say('\nInventory (bunker inventory --endpoint URL --config demo/bunker.demo.json):');
  say(inventoryTable(result.records));
  say('\nChecks:');
  const verdicts = demoVerdicts(result);
  for (const v of verdicts) say(`  ${v.ok ? 'ok  ' : 'FAIL'} ${v.line}`);
  return verdicts.every((v) => v.ok);
}
