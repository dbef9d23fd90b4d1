#!/usr/bin/env -S npx tsx
/**
 * The `bunker` operator CLI. Entry point only: each command lives in cli/.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BunkerError } from '../lambdas/core/errors';
import { COPY_STATUSES, type InventoryFilter } from '../lambdas/core/inventory';
import { ALL_KINDS } from '../lambdas/kinds/registry';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../lib/config/load';
import { configJsonSchema, inactiveSettings } from '../lib/config/schema';

// Commands load their modules (and the AWS SDK clients) when they run, so
// `--help` and `config` answer at once.

const say = (line: string) => process.stdout.write(`${line}\n`);

const endpointOption = () =>
  new Option('--endpoint <url>', 'URL of a local AWS emulator (e.g. http://127.0.0.1:5000)').argParser((value) => {
    if (!/^https?:\/\/[^\s/]+/.test(value)) throw new InvalidArgumentError('expected an http(s) URL');
    return value.replace(/\/$/, '');
  });
const configOption = () => new Option('--config <file>', 'Bunker configuration file').default(DEFAULT_CONFIG_FILE);

const program = new Command()
  .name('bunker')
  .description(
    'Bunker keeps an independent, encrypted copy of production in a locked-down backup account.\n' +
      'This CLI reads the inventory of backup copies and runs Bunker against a local AWS emulator.',
  )
  .showHelpAfterError('(run with --help for usage)');

program
  .command('demo')
  .description(
    'Start the local AWS emulator, set up one backup and two source accounts, run a full backup cycle\n' +
      'with hostile messages mixed in, and print the inventory (what `make demo` runs).',
  )
  .action(async () => {
    const { startEmulator } = await import('../cli/local/emulator');
    const { printDemo } = await import('../cli/demo-report');
    say('Starting the local AWS emulator (moto server with the Bunker launcher)...');
    const emulator = await startEmulator();
    try {
      say(`Emulator listening on ${emulator.endpoint}\n`);
      const ok = await printDemo(emulator.endpoint, say);
      if (!ok) process.exitCode = 1;
    } finally {
      await emulator.stop();
    }
  });

const local = program
  .command('local')
  .description('Run Bunker on a local AWS emulator, with the same handler code that runs in Lambda.');

local
  .command('up')
  .description('Create on the emulator what the vault and source stacks create (idempotent).')
  .addOption(endpointOption().makeOptionMandatory())
  .addOption(configOption())
  .action(async (options: { endpoint: string; config: string }) => {
    const config = loadConfig(options.config);
    const { localUp } = await import('../cli/local/up');
    const env = await localUp(config, options.endpoint, say);
    say(
      `Vault ready: ${Object.keys(env.topicArns).length} intake topic(s), table ${env.tableName}, ${env.sources.length} source Region(s).`,
    );
  });

local
  .command('run')
  .description(
    'Run the pipeline until nothing is pending: source agents, intake, copies, completion.\n' +
      'Runs `local up` first, so it also works on a fresh emulator.',
  )
  .addOption(endpointOption().makeOptionMandatory())
  .addOption(configOption())
  .addOption(
    new Option('--max-rounds <n>', 'give up after this many rounds').default(20).argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
      return n;
    }),
  )
  .action(async (options: { endpoint: string; config: string; maxRounds: number }) => {
    const config = loadConfig(options.config);
    const { localRun } = await import('../cli/local/run');
    const summary = await localRun(config, options.endpoint, { progress: say, maxRounds: options.maxRounds });
    const counts = Object.entries(summary.byStatus)
      .map(([status, n]) => `${n} ${status}`)
      .join(', ');
    say(`${summary.settled ? 'Settled' : 'Still pending'} after ${summary.rounds} round(s): ${counts}.`);
    if (summary.deadLetters > 0) say(`${summary.deadLetters} message(s) in the dead-letter queue.`);
    if (!summary.settled) process.exitCode = 1;
  });

local
  .command('emulator')
  .description('Start the local AWS emulator in the foreground and print its URL (Ctrl-C stops it).')
  .option('--port <port>', 'port on 127.0.0.1 (default: a free one)', (v) => Number(v))
  .action(async (options: { port?: number }) => {
    const { startEmulator } = await import('../cli/local/emulator');
    const emulator = await startEmulator({ port: options.port });
    say(`Emulator listening on ${emulator.endpoint} (Ctrl-C to stop)`);
    const stop = () => {
      void emulator.stop().then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    await new Promise(() => {});
  });

program
  .command('inventory')
  .description(
    'List backup copies and rejected messages from the inventory table in the backup account.\n' +
      'Without --endpoint it reads AWS with your default credentials (they must reach the backup account).',
  )
  .addOption(configOption())
  .addOption(endpointOption())
  .addOption(
    new Option('--output <format>', 'output format; json is the contract of docs/inventory-format.md')
      .choices(['table', 'json'])
      .default('table'),
  )
  .addOption(new Option('--wide', 'show every column (the default table fits 120 columns)'))
  .addOption(
    new Option('--account <id>', 'only records of this source account').argParser((v) => {
      if (!/^\d{12}$/.test(v)) throw new InvalidArgumentError('expected a 12-digit account id');
      return v;
    }),
  )
  .addOption(
    new Option(
      '--kind <kind>',
      `only records of this kind: ${ALL_KINDS.map((k) => `${k.configKey} (${k.name})`).join(', ')}, or unknown (rejections)`,
    ).argParser((v): InventoryFilter['kind'] => {
      const kind = ALL_KINDS.find((k) => k.configKey === v || k.name === v);
      if (kind) return kind.name;
      if (v === 'unknown') return 'unknown';
      throw new InvalidArgumentError(
        `expected one of ${ALL_KINDS.map((k) => k.configKey).join(', ')}, their full names, or unknown`,
      );
    }),
  )
  .addOption(new Option('--status <status>', 'only records in this status').choices([...COPY_STATUSES]))
  .action(
    async (options: {
      config: string;
      endpoint?: string;
      output: 'table' | 'json';
      wide?: boolean;
      account?: string;
      kind?: InventoryFilter['kind'];
      status?: InventoryFilter['status'];
    }) => {
      const config = loadConfig(options.config);
      const { account, region } = config.backup;
      const { readInventory, inventoryTable } = await import('../cli/inventory');
      const { localContext } = await import('../cli/local/accounts');
      const { LOCAL_OPERATOR_ROLE } = await import('../cli/local/up');
      const context = options.endpoint
        ? await localContext(options.endpoint, account, region, LOCAL_OPERATOR_ROLE)
        : { region };
      const records = await readInventory(context, config.name, {
        account: options.account,
        kind: options.kind,
        status: options.status,
      });
      say(
        options.output === 'json'
          ? JSON.stringify(records, null, 2)
          : inventoryTable(records, { wide: options.wide ?? false }),
      );
    },
  );

const configCommand = program.command('config').description('Check or describe the configuration file.');
configCommand
  .command('validate')
  .description('Validate a configuration file and print a summary, or every problem with its key path.')
  .addOption(configOption())
  .action((options: { config: string }) => {
    const config = loadConfig(options.config);
    const regions = config.sources.reduce((n, s) => n + s.regions.length, 0);
    const kinds = Object.entries(config.artifacts)
      .filter(([, policy]) => policy.enabled)
      .map(([kind]) => kind);
    say(
      `${options.config} is valid: backup account ${config.backup.account} in ${config.backup.region}, ` +
        `${config.sources.length} source account(s) in ${regions} Region(s), enabled: ${kinds.join(', ') || 'nothing'}.`,
    );
    const inactive = inactiveSettings(config);
    if (inactive.length > 0) say(`Not acted on yet:\n${inactive.map((note) => `  - ${note}`).join('\n')}`);
  });
configCommand
  .command('schema')
  .description('Print the JSON Schema of the configuration file (for editors).')
  .action(() => {
    say(JSON.stringify(configJsonSchema(), null, 2));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof BunkerError) {
    process.stderr.write(`bunker: ${error.message}\n`);
  } else {
    process.stderr.write(`bunker: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.BUNKER_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    else process.stderr.write('(set BUNKER_DEBUG=1 for the stack trace)\n');
  }
  process.exitCode = 1;
});
