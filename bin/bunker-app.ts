#!/usr/bin/env node
/**
 * The CDK app: `cdk synth -c config=FILE` (default bunker.config.json).
 * A configuration error is printed as the operator should read it, with the
 * key path of each problem, and ends the process with status 1.
 */
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from '../lib/config/load';
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

buildApp(config, app);
app.synth();
