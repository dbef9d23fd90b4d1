/**
 * Synthesizes the Bunker app from a configuration document into templates,
 * the way `make synth` builds it (cdk-nag attached by `buildApp`), for the
 * infra tests that assert on the templates. One helper so every test reads
 * the templates the same way, even when cdk-nag fails the synthesis.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { type BunkerApp, buildApp } from '../../../lib/app';
import { parseConfig } from '../../../lib/config/load';
import type { BunkerConfigInput } from '../../../lib/config/schema';
import type { TemplateJson } from '../policy-walk';

export const BACKUP = '111111111111';
export const PAYMENTS = '222222222222';
export const STOREFRONT = '333333333333';

export interface Synthesized {
  readonly built: BunkerApp;
  readonly outdir: string;
  /** What `app.synth()` threw (a cdk-nag failure throws under vitest), or undefined. */
  readonly synthError: unknown;
  readonly vault: TemplateJson;
  /** Source templates by `account/region`. */
  readonly sources: Map<string, TemplateJson>;
  /** Every template (vault, its second Region, every source) by stack name. */
  readonly templates: Map<string, TemplateJson>;
  /** The cdk-nag validation report as written, or an empty report when none was written. */
  readonly validationReport: string;
}

export interface SynthOptions {
  /** Bundle the Lambda code as a deployment does (slow); by default only the templates are built. */
  readonly bundle?: boolean;
}

/**
 * Builds and synthesizes the app into a fresh directory. When synthesis
 * throws, the templates were already written before validation ran: they are
 * read from disk, so the tests still say what they check instead of failing
 * on undefined, and `synthError` carries the failure for the test that
 * asserts a clean synthesis.
 */
export function synthesize(input: BunkerConfigInput, options: SynthOptions = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'bunker-infra-'));
  const app = new App(options.bundle ? { outdir } : { outdir, context: { [BUNDLING_STACKS]: [] } });
  const built = buildApp(parseConfig(input, 'test config'), app);
  let synthError: unknown;
  let template: (stack: Stack) => TemplateJson;
  try {
    built.app.synth();
    template = (stack) => Template.fromStack(stack).toJSON() as TemplateJson;
  } catch (error) {
    synthError = error;
    template = (stack) => JSON.parse(readFileSync(join(outdir, stack.templateFile), 'utf8')) as TemplateJson;
  }
  const vault = template(built.vault);
  const sources = new Map<string, TemplateJson>();
  const templates = new Map<string, TemplateJson>([[built.vault.stackName, vault]]);
  if (built.vaultRegion) templates.set(built.vaultRegion.stackName, template(built.vaultRegion));
  for (const stack of built.sources) {
    const source = template(stack);
    sources.set(`${stack.account}/${stack.region}`, source);
    templates.set(stack.stackName, source);
  }
  let validationReport: string;
  try {
    validationReport = readFileSync(join(outdir, 'validation-report.json'), 'utf8');
  } catch {
    validationReport = '{"pluginReports":[]}';
  }
  return { built, outdir, synthError, vault, sources, templates, validationReport };
}

/**
 * The deployment most infra tests start from: two source accounts, the
 * second listed first in a Region other than the backup Region (its
 * account-wide roles live there), and an alert address. Tests spread it and
 * set the kinds they assert on.
 */
export const baseDocument: BunkerConfigInput = {
  name: 'bunker',
  backup: { account: BACKUP, region: 'eu-west-1' },
  sources: [
    { account: PAYMENTS, name: 'payments', regions: ['eu-west-1'] },
    { account: STOREFRONT, name: 'storefront', regions: ['eu-central-1', 'eu-west-1'] },
  ],
  artifacts: { rds: { enabled: true } },
  alerts: { emails: ['backup-alerts@example.com'] },
};
