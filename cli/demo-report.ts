/**
 * What `make demo` prints: the scenario's progress, the inventory, and the
 * checks that make the demo's claims verifiable rather than decorative.
 */
import { type DemoResult, runDemo } from './demo';
import { DRILL_KIND_KEYS } from '../lib/config/schema';
import { inventoryTable, pulledTable } from './inventory';

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
    ...pulledVerdicts(result),
    ...drillVerdicts(result),
  ];
}

/** Every enabled kind proven to restore: a passed drill of each, read back from the drill log. */
function drillVerdicts(result: DemoResult): { ok: boolean; line: string }[] {
  const enabled = DRILL_KIND_KEYS.filter((kind) => result.config.artifacts[kind].enabled);
  return enabled.map((kind) => {
    const ofKind = result.drills.filter((d) => d.kind === kind);
    const passed = ofKind.filter((d) => d.last.outcome === 'passed' && d.last.tornDown);
    const slowest = Math.max(0, ...passed.map((d) => d.last.restoreSeconds ?? 0));
    return {
      ok: ofKind.length > 0 && passed.length === ofKind.length,
      line: `${kind}: ${passed.length} of ${ofKind.length} resource(s) restored in a drill, validated and torn down (slowest ${slowest} s)`,
    };
  });
}

/** The pulled backups' claims: held, written only when changed, restored equal, never logged. */
function pulledVerdicts(result: DemoResult): { ok: boolean; line: string }[] {
  const held = result.pulled.filter((r) => r.state === 'held');
  const byKind = (kind: string) => held.filter((r) => r.kind === kind).length;
  // The demo's parameters and secrets are in the first source account.
  const payments = result.config.sources[0].account;
  const run = (kind: string) => result.repull.find((r) => r.kind === kind && r.account === payments);
  const ssm = run('ssm');
  const secrets = run('secrets');
  return [
    {
      ok: held.length > 0 && held.length === result.pulled.length,
      line: `${byKind('ssm-parameter')} parameter(s), ${byKind('secret')} secret(s) and ${byKind('dynamodb-table')} table(s) pulled and held`,
    },
    {
      ok:
        result.vault.objects > 0 &&
        result.vault.underBackupKey === result.vault.objects &&
        result.vault.locked === result.vault.objects,
      line: `${result.vault.underBackupKey} of ${result.vault.objects} object(s) in the vault bucket under the backup-data key, ${result.vault.locked} locked (read back with HeadObject)`,
    },
    {
      ok: ssm?.changed === 1 && ssm.dataWrites === 1 && secrets?.nothingChanged === true && secrets.dataWrites === 0,
      line: `after one rotation the pulls wrote ${ssm?.dataWrites ?? '?'} parameter version(s) and ${secrets?.dataWrites ?? '?'} secret object(s): only what changed`,
    },
    ...result.pulledChecks,
    {
      ok: result.canaryLeaks.length === 0,
      line:
        result.canaryLeaks.length === 0
          ? 'no planted secret value in any log line or inventory record'
          : `${result.canaryLeaks.length} planted secret value(s) found in a log line or an inventory record`,
    },
  ];
}

/** Runs the demo and prints it; resolves to whether every claim held. */
export async function printDemo(endpoint: string, say: (line: string) => void): Promise<boolean> {
  const result = await runDemo(endpoint, say);
  say('\nInventory (bunker inventory --endpoint URL --config demo/bunker.demo.json):');
  say(inventoryTable(result.records));
  say('\nPulled backups:');
  say(pulledTable(result.pulled));
  say('\nChecks:');
  const verdicts = demoVerdicts(result);
  for (const v of verdicts) say(`  ${v.ok ? 'ok  ' : 'FAIL'} ${v.line}`);
  return verdicts.every((v) => v.ok);
}
