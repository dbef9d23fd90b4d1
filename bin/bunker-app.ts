#!/usr/bin/env node
/**
 * The CDK app: `cdk synth -c config=FILE` (default bunker.config.json).
 * A configuration error is printed as the operator should read it, with the
 * key path of each problem, and ends the process with status 1; so is a
 * vault that would deploy with nobody told of its alarms.
 */
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from '../lib/config/load';
import { NoAlertAddressError } from '../lib/constructs/audit';
import type { BunkerConfig } from '../lib/config/schema';

const app = new App();
const file: unknown = app.node.tryGetContext('config') ?? DEFAULT_CONFIG_FILE;

let config: BunkerConfig;
try {
  if (typeof file !== 'string' || file.length === 0) {
    throw new ConfigError(String(file), ['(root): pass the configuration file as -c config=FILE']);
  }
  config = loadConfig(file);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

try {
  buildApp(config, app);
} catch (error) {
  // A configuration the vault refuses to deploy: said as plainly as a schema error, without a stack trace.
  if (!(error instanceof NoAlertAddressError)) throw error;
  console.error(`${file}: ${error.message}`);
  process.exit(1);
}
app.synth();
