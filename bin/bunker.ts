#!/usr/bin/env -S npx tsx
/**
 * The `bunker` operator CLI. Entry point only: each command lives in cli/.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BunkerError } from '../lambdas/core/errors';
import { COPY_STATUSES, type InventoryFilter } from '../lambdas/core/inventory';
import { PULLED_CONFIG_KEYS, PULLED_KIND_OF, type PulledKindName } from '../lambdas/core/pull/types';
import { parseRewrite } from '../lambdas/core/pull/restore/rewrite';
import { ALL_KINDS } from '../lambdas/kinds/registry';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../lib/config/load';
import {
  alertAddressProblem,
  configJsonSchema,
  describeOrganization,
  inactiveSettings,
  trailNote,
} from '../lib/config/schema';

// Commands load their modules (and the AWS SDK clients) when they run, so
// `--help` and `config` answer at once.

const say = (line: string) => process.stdout.write(`${line}\n`);

const endpointOption = () =>
  new Option('--endpoint <url>', 'URL of a local AWS emulator (e.g. http://127.0.0.1:5000)').argParser((value) => {
    if (!/^https?:\/\/[^\s/]+/.test(value)) throw new InvalidArgumentError('expected an http(s) URL');
    return value.replace(/\/$/, '');
  });
const configOption = () => new Option('--config <file>', 'Bunker configuration file').default(DEFAULT_CONFIG_FILE);
const profileOption = () =>
  new Option(
    '--profile <profile>',
    'AWS profile with credentials for the backup account (default: the default chain); checked to be that account',
  );

const operatorOption = () =>
  new Option(
    '--operator',
    "assume the vault's read-only <name>-operator role with those credentials: the role the source accounts' " +
      'reader roles trust, so status needs it in AWS; other commands read only the vault with it. On the emulator, ' +
      'act as that role',
  );

const accountOption = (flag: string, description: string) =>
  new Option(`${flag} <id>`, description).argParser((v) => {
    if (!/^\d{12}$/.test(v)) throw new InvalidArgumentError('expected a 12-digit account id');
    return v;
  });
const regionOption = (flag: string, description: string) =>
  new Option(`${flag} <region>`, description).argParser((v) => {
    if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/.test(v))
      throw new InvalidArgumentError('expected a Region such as eu-west-1');
    return v;
  });
const atOption = () =>
  new Option(
    '--at <time>',
    'restore the data as it was at this time (ISO 8601, e.g. 2026-11-20T08:00:00Z); default: the newest pulled',
  ).argParser((v) => {
    if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(Date.parse(v))) {
      throw new InvalidArgumentError('expected an ISO 8601 time such as 2026-11-20T08:00:00Z');
    }
    return new Date(v).toISOString();
  });

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
    'Run the pulls that are due (parameters, secrets, tables), then the snapshot pipeline until nothing is ' +
      'pending: source agents, intake, copies, completion; then the pruner (printing each copy it expired) and the ' +
      'auditor. Runs `local up` first, so it also works on a fresh emulator.',
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
  .addOption(
    new Option(
      '--pull-now',
      'run every pull (parameters, secrets, tables) now; without it only the pulls whose schedule is due run',
    ),
  )
  .action(async (options: { endpoint: string; config: string; maxRounds: number; pullNow?: boolean }) => {
    const config = loadConfig(options.config);
    const { localRun } = await import('../cli/local/run');
    const summary = await localRun(config, options.endpoint, {
      progress: say,
      maxRounds: options.maxRounds,
      pullNow: options.pullNow ?? false,
    });
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
    'List backup copies, pulled backups (parameters, secrets, tables) and rejected messages from the inventory ' +
      'table in the backup account.\n' +
      'Without --endpoint it reads AWS with your default credentials or --profile, checked to be the backup account.',
  )
  .addOption(configOption())
  .addOption(endpointOption())
  .addOption(
    new Option(
      '--output <format>',
      'output format; json is the contract of docs/inventory-format.md, csv one row per record for spreadsheets',
    )
      .choices(['table', 'json', 'csv'])
      .default('table'),
  )
  .addOption(profileOption())
  .addOption(operatorOption())
  .addOption(
    regionOption('--region', "the backup account's Region to read (default: backup.region of the configuration)"),
  )
  .addOption(
    new Option('--since <time>', 'only records changed at or after this time (ISO 8601)').argParser((v) => {
      if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(Date.parse(v))) {
        throw new InvalidArgumentError('expected an ISO 8601 time such as 2026-11-20T08:00:00Z');
      }
      return new Date(v).toISOString();
    }),
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
      `only records of this kind: ${ALL_KINDS.map((k) => `${k.configKey} (${k.name})`).join(', ')}, ` +
        `${PULLED_CONFIG_KEYS.map((key) => `${key} (${PULLED_KIND_OF[key]})`).join(', ')}, or unknown (rejections)`,
    ).argParser((v): InventoryFilter['kind'] | PulledKindName => {
      const kind = ALL_KINDS.find((k) => k.configKey === v || k.name === v);
      if (kind) return kind.name;
      const pulled = PULLED_CONFIG_KEYS.find((key) => key === v || PULLED_KIND_OF[key] === v);
      if (pulled) return PULLED_KIND_OF[pulled];
      if (v === 'unknown') return 'unknown';
      throw new InvalidArgumentError(
        `expected one of ${[...ALL_KINDS.map((k) => k.configKey), ...PULLED_CONFIG_KEYS].join(', ')}, their full names, or unknown`,
      );
    }),
  )
  .addOption(new Option('--status <status>', 'only records in this status').choices([...COPY_STATUSES]))
  .action(
    async (options: {
      config: string;
      endpoint?: string;
      output: 'table' | 'json' | 'csv';
      profile?: string;
      operator?: boolean;
      region?: string;
      since?: string;
      wide?: boolean;
      account?: string;
      kind?: InventoryFilter['kind'] | PulledKindName;
      status?: InventoryFilter['status'];
    }) => {
      const config = loadConfig(options.config);
      const { readInventory, readPulled, inventoryTable, pulledTable, inventoryCsv, changedSince } =
        await import('../cli/inventory');
      const { backupContext, notFound } = await import('../cli/aws-session');
      const context = await backupContext(config, options);
      const pulledKind = (Object.values(PULLED_KIND_OF) as string[]).includes(options.kind ?? '')
        ? (options.kind as PulledKindName)
        : undefined;
      const table = `the inventory table ${config.name}-inventory`;
      const where = `account ${config.backup.account} ${context.region}`;
      // Copies and rejections have a status; pulled records a state: --status and a snapshot kind select copies only.
      const copies = changedSince(
        pulledKind
          ? []
          : await readInventory(context, config.name, {
              account: options.account,
              kind: options.kind as InventoryFilter['kind'],
              status: options.status,
            }).catch((error: unknown) => {
              throw notFound(error, table, where);
            }),
        options.since,
      );
      const wantPulled = pulledKind !== undefined || (options.kind === undefined && options.status === undefined);
      const pulled = changedSince(
        wantPulled ? await readPulled(context, config.name, { account: options.account, kind: pulledKind }) : [],
        options.since,
      );
      if (options.output === 'csv') {
        process.stdout.write(inventoryCsv(copies, pulled));
        return;
      }
      if (options.output === 'json') {
        say(JSON.stringify([...copies, ...pulled], null, 2));
        return;
      }
      if (!pulledKind) say(inventoryTable(copies, { wide: options.wide ?? false }));
      if (pulledKind || pulled.length > 0) say(`${pulledKind ? '' : '\n'}${pulledTable(pulled)}`);
    },
  );

program
  .command('status')
  .description(
    'Is everything backed up, and since when? One row per resource in scope (databases, clusters, volumes, ' +
      "images, parameters, secrets, tables): its newest copy, the age of that copy by the service's own " +
      'timestamps, the RPO, and the state: breach (with why: never copied, late, failed, stuck, nothing shared), ' +
      'at-risk (the next copy cannot finish within the RPO at the copy times measured so far), or ok. Breaches ' +
      'first. Read-only: nothing is written or published.\n' +
      'Exit status: 0 when every resource is within its RPO (at-risk included), 2 when any breaches, 1 on an error ' +
      '(including a source account or Region that could not be listed).\n' +
      'Without --endpoint it reads AWS with your default credentials or --profile (checked to be the backup account). ' +
      "The audit lists each source through its reader role, which trusts only the vault's roles: pass --operator to " +
      'assume the read-only <name>-operator role (your credentials need sts:AssumeRole on it), or use a profile whose ' +
      'role_arn is that role.',
  )
  .addOption(configOption())
  .addOption(endpointOption())
  .addOption(profileOption())
  .addOption(operatorOption())
  .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
  .addOption(
    new Option('--account <id>', 'only resources of this source account').argParser((v) => {
      if (!/^\d{12}$/.test(v)) throw new InvalidArgumentError('expected a 12-digit account id');
      return v;
    }),
  )
  .addOption(
    new Option(
      '--kind <kind>',
      `only resources of this kind: ${ALL_KINDS.map((k) => `${k.configKey} (${k.name})`).join(', ')}, ` +
        `${PULLED_CONFIG_KEYS.map((key) => `${key} (${PULLED_KIND_OF[key]})`).join(', ')}`,
    ).argParser((v): string => {
      const kind = ALL_KINDS.find((k) => k.configKey === v || k.name === v);
      if (kind) return kind.name;
      const pulled = PULLED_CONFIG_KEYS.find((key) => key === v || PULLED_KIND_OF[key] === v);
      if (pulled) return PULLED_KIND_OF[pulled];
      throw new InvalidArgumentError(
        `expected one of ${[...ALL_KINDS.map((k) => k.configKey), ...PULLED_CONFIG_KEYS].join(', ')} or their full names`,
      );
    }),
  )
  .action(
    async (options: {
      config: string;
      endpoint?: string;
      profile?: string;
      operator?: boolean;
      output: 'table' | 'json';
      account?: string;
      kind?: string;
    }) => {
      const config = loadConfig(options.config);
      const { readStatus, statusExitCode, statusJson, statusTable } = await import('../cli/status');
      const { backupContext } = await import('../cli/aws-session');
      // On the emulator always as the operator role: there is nobody else the reader roles trust to stand in.
      const operator = options.operator === true || options.endpoint !== undefined;
      const context = await backupContext(config, { endpoint: options.endpoint, profile: options.profile, operator });
      const report = await readStatus(
        config,
        context,
        { account: options.account, kind: options.kind as Parameters<typeof readStatus>[2]['kind'] },
        new Date(),
        undefined,
        operator,
      );
      say(options.output === 'json' ? statusJson(report) : statusTable(report));
      process.exitCode = statusExitCode(report);
    },
  );

program
  .command('drill')
  .description(
    'Prove copies restorable: restore the newest copy of each resource into the isolated drill network of the ' +
      'backup account (databases, clusters, volumes, images and tables are restored; parameters and secrets are ' +
      'decrypted and compared, never written), validate it (status, engine and version, size, the backup-data key, ' +
      "no public access, checksums and counts), time it against the kind's restore-time target, delete everything " +
      'it made and record the result in the inventory (see `bunker status`). A failed drill raises an alert. ' +
      "For RDS and Aurora, a probe in the drill network asks the restored engine for its wire protocol's greeting " +
      "on the endpoint RDS reports (a MySQL handshake naming the copy's version, PostgreSQL's answer to a login " +
      'it refuses): the engine runs and answers, without credentials; no data is read. An AMI drill waits for ' +
      "EC2's instance and system status checks.\n" +
      "Without --endpoint (AWS) it starts the vault's <name>-drill state machine in the backup account and follows " +
      'its execution, printing each drill as it is queued, restoring, validating, tearing down and done; the state ' +
      'machine finishes (and tears down) even if this command is stopped, and a run drills at most ' +
      'drills.maxPerRun resources, those drilled longest ago first. With --endpoint (the emulator, which runs no ' +
      'Lambda code) it runs the same plan and steps in this process.\n' +
      'Exit status: 0 when every drill passed, 2 when any failed, 1 on an error (a drill step that did not finish ' +
      'included) or when no copy matches.',
  )
  .addOption(
    new Option(
      '--kind <kind>',
      `only copies of this kind: ${ALL_KINDS.map((k) => `${k.configKey} (${k.name})`).join(', ')}, ` +
        `${PULLED_CONFIG_KEYS.map((key) => `${key} (${PULLED_KIND_OF[key]})`).join(', ')}`,
    ).argParser((v): string => {
      const kind = ALL_KINDS.find((k) => k.configKey === v || k.name === v);
      if (kind) return kind.configKey;
      const pulled = PULLED_CONFIG_KEYS.find((key) => key === v || PULLED_KIND_OF[key] === v);
      if (pulled) return pulled;
      throw new InvalidArgumentError(
        `expected one of ${[...ALL_KINDS.map((k) => k.configKey), ...PULLED_CONFIG_KEYS].join(', ')} or their full names`,
      );
    }),
  )
  .addOption(accountOption('--account', 'only copies of this source account'))
  .addOption(
    new Option(
      '--resource <id>',
      'only copies of this production resource (DB instance or cluster, volume id, image name, parameter, secret or table name)',
    ),
  )
  .addOption(configOption())
  .addOption(endpointOption())
  .addOption(profileOption())
  .action(
    async (options: {
      kind?: string;
      account?: string;
      resource?: string;
      config: string;
      endpoint?: string;
      profile?: string;
    }) => {
      const config = loadConfig(options.config);
      const { drillOnAws, drillOnEmulator } = await import('../cli/drill');
      const { backupContext } = await import('../cli/aws-session');
      const filter = { kind: options.kind, account: options.account, resource: options.resource };
      const context = await backupContext(config, {
        endpoint: options.endpoint,
        profile: options.profile,
        operator: options.endpoint !== undefined,
      });
      process.exitCode = options.endpoint
        ? await drillOnEmulator(config, context, filter, say)
        : await drillOnAws(config, context, filter, say);
    },
  );

/** The options every restore shares: where from, where to, with whose credentials, rewriting what. */
function restoreCommand(name: string, description: string) {
  return restore
    .command(name)
    .description(description)
    .addOption(accountOption('--account', 'the source account the data was pulled from').makeOptionMandatory())
    .addOption(regionOption('--region', 'the source Region the data was pulled from').makeOptionMandatory())
    .addOption(
      accountOption('--to-account', 'the account to write into (its credentials are required)').makeOptionMandatory(),
    )
    .addOption(regionOption('--to-region', 'the Region to write into (default: --region)'))
    .addOption(
      new Option(
        '--to-profile <profile>',
        'AWS profile with credentials for --to-account (default: the default chain)',
      ),
    )
    .addOption(profileOption())
    .addOption(atOption())
    .addOption(
      new Option(
        '--rewrite <OLD=NEW>',
        'replace OLD with NEW inside every restored value (account ids, Regions, ARNs, host names); repeatable, applied in order',
      ).argParser((v: string, previous: string[] = []) => {
        try {
          parseRewrite(v);
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
        return [...previous, v];
      }),
    )
    .addOption(configOption())
    .addOption(endpointOption());
}

interface RestoreCliOptions {
  account: string;
  region: string;
  toAccount: string;
  toRegion?: string;
  toProfile?: string;
  profile?: string;
  at?: string;
  rewrite?: string[];
  config: string;
  endpoint?: string;
}

const restore = program
  .command('restore')
  .description(
    'Restore pulled backups (parameters, secrets, tables) from the vault into an account you name, with ' +
      "that account's credentials, then read them back and compare them with the vault's checksums. " +
      'Exits non-zero when anything restored differs from what the vault holds, or nothing matched.',
  );

for (const kind of ['ssm', 'secrets'] as const) {
  const ssm = kind === 'ssm';
  restoreCommand(
    kind,
    ssm
      ? 'Restore SSM parameters (String, StringList, SecureString), keeping their types.'
      : 'Restore Secrets Manager secrets (text or binary), creating those the target does not have.',
  )
    .addOption(
      ssm
        ? new Option('--path <prefix>', 'only parameters whose names start with this path (e.g. /payments/)')
        : new Option('--name-prefix <prefix>', 'only secrets whose names start with this prefix'),
    )
    .addOption(
      ssm
        ? new Option('--prefix <prefix>', 'write each parameter under this prefix (e.g. /restored/)')
        : new Option('--prefix <prefix>', 'write each secret under this name prefix'),
    )
    .addOption(
      new Option(
        '--kms-key-id <key>',
        ssm
          ? "KMS key in the target account for SecureStrings (default: the target's aws/ssm)"
          : "KMS key in the target account for the secrets (default: the target's aws/secretsmanager)",
      ),
    )
    .action(
      async (
        options: RestoreCliOptions & { path?: string; namePrefix?: string; prefix?: string; kmsKeyId?: string },
      ) => {
        const config = loadConfig(options.config);
        const { restoreValuesCommand } = await import('../cli/restore');
        const summary = await restoreValuesCommand(
          config,
          {
            kind,
            account: options.account,
            region: options.region,
            toAccount: options.toAccount,
            toRegion: options.toRegion ?? options.region,
            toProfile: options.toProfile,
            profile: options.profile,
            endpoint: options.endpoint,
            namePrefix: options.path ?? options.namePrefix,
            at: options.at,
            targetPrefix: options.prefix,
            rewrites: options.rewrite ?? [],
            kmsKeyId: options.kmsKeyId,
          },
          say,
        );
        if (!summary.ok || summary.planned === 0) process.exitCode = 1;
      },
    );
}

restoreCommand(
  'dynamodb',
  'Restore one DynamoDB table into a new table: its keys, local and global indexes, billing mode, stream, TTL and ' +
    'point-in-time setting from the manifest, then its items from the newest full dump and the incremental exports up to --at.',
)
  .addOption(new Option('--table <name>', 'the source table').makeOptionMandatory())
  .addOption(
    new Option('--to-table <name>', 'the table to create in the target (must not exist)').makeOptionMandatory(),
  )
  .addOption(
    new Option(
      '--import-bucket <bucket>',
      "a bucket in the target account for DynamoDB's import; a big table without local indexes is then imported (default: every table is loaded by batch writes)",
    ),
  )
  .action(async (options: RestoreCliOptions & { table: string; toTable: string; importBucket?: string }) => {
    const config = loadConfig(options.config);
    const { restoreTableCommand } = await import('../cli/restore');
    const summary = await restoreTableCommand(
      config,
      {
        account: options.account,
        region: options.region,
        table: options.table,
        toAccount: options.toAccount,
        toRegion: options.toRegion ?? options.region,
        toProfile: options.toProfile,
        profile: options.profile,
        toTable: options.toTable,
        endpoint: options.endpoint,
        at: options.at,
        rewrites: options.rewrite ?? [],
        importBucket: options.importBucket,
      },
      say,
    );
    if (!summary.ok) process.exitCode = 1;
  });

// Recovery into a new account (two people) and the runbook: cli/recover.ts, cli/runbook.ts.
{
  const kindChoices = [...ALL_KINDS.map((k) => k.configKey), ...PULLED_CONFIG_KEYS];
  program
    .command('recover')
    .description(
      'Open the copies of a lost production account to a recovery account, with two people.\n' +
        '  --request --account A --to-account T [--to-region R] [--kind K] [--resource R]: chooses the newest copy of ' +
        'each resource of A, records a pending request and alerts the alerts topic. Nothing is shared yet.\n' +
        '  --approve ID: by a different identity than the requester, shares each chosen snapshot copy with T only ' +
        "(AMIs with their backing snapshots), grants T's root Decrypt, DescribeKey and CreateGrant on the " +
        'backup-data key (what a cross-account copy needs), alerts again and prints the exact next commands. ' +
        'Run again after a failure, it finishes what is missing and doubles nothing.\n' +
        '  --revoke ID: removes every share and the grant (anyone may revoke). --list: the requests and their state.\n' +
        'Same identity: callers are compared as STS GetCallerIdentity reports them. IAM users by user, the root by ' +
        'account. Sessions of one assumed role are ONE identity whatever their session names (whoever calls ' +
        'AssumeRole picks the session name), except IAM Identity Center roles (AWSReservedSSO_*), whose session name ' +
        'AWS sets to the signed-in user, and the recovery role <name>-recovery, whose trust admits an IAM user only ' +
        'under its own user name: a session alice of it is the IAM user alice. Federated users of an account are one.\n' +
        'Starts from your own credentials of the backup account (default chain or --profile; with --endpoint, the same ' +
        'chain against the emulator), never the operator role. --request, --approve and --revoke act through ' +
        '<name>-recovery (the one role besides the pruner that the bunker scp policy lets re-share RDS and Aurora ' +
        'copies), assumed with your IAM user name as the session name: an IAM user of the backup account with ' +
        'sts:AssumeRole on it is needed. --no-recovery-role acts with your own rights instead (organizations ' +
        'without that policy; role sessions such as Identity Center ones). Parameters, secrets and tables need no ' +
        'share: the request lists them and the next commands restore them with bunker restore.',
    )
    .addOption(new Option('--request', 'record a pending request'))
    .addOption(new Option('--approve <id>', 'approve a request and carry it out'))
    .addOption(new Option('--revoke <id>', 'take back every share and grant of a request'))
    .addOption(new Option('--list', 'list the requests'))
    .addOption(
      new Option('--no-recovery-role', 'act with your own rights, not through <name>-recovery (no bunker scp policy)'),
    )
    .addOption(accountOption('--account', 'the lost production account (with --request)'))
    .addOption(accountOption('--to-account', 'the recovery account (with --request)'))
    .addOption(regionOption('--to-region', 'the Region to restore into (default: the backup Region)'))
    .addOption(new Option('--kind <kind>', 'only copies of this kind').choices(kindChoices))
    .addOption(new Option('--resource <name>', 'only the copies of this production resource'))
    .addOption(configOption())
    .addOption(endpointOption())
    .addOption(profileOption())
    .action(
      async (options: {
        request?: boolean;
        approve?: string;
        revoke?: string;
        list?: boolean;
        account?: string;
        toAccount?: string;
        toRegion?: string;
        kind?: string;
        resource?: string;
        config: string;
        endpoint?: string;
        profile?: string;
        recoveryRole: boolean;
      }) => {
        const modes = [options.request, options.approve, options.revoke, options.list].filter(Boolean);
        if (modes.length !== 1)
          throw new BunkerError('give exactly one of --request, --approve ID, --revoke ID, --list');
        const config = loadConfig(options.config);
        const recover = await import('../cli/recover');
        const context = recover.recoverContext(config, options);
        const target = { configFile: options.config, endpoint: options.endpoint };
        if (options.request) {
          if (!options.account || !options.toAccount)
            throw new BunkerError('--request needs --account and --to-account');
          await recover.recoverRequestCommand(
            config,
            context,
            {
              account: options.account,
              toAccount: options.toAccount,
              toRegion: options.toRegion,
              kind: options.kind as Parameters<typeof recover.recoverRequestCommand>[2]['kind'],
              resource: options.resource,
              ...target,
            },
            say,
          );
        } else if (options.approve) {
          await recover.recoverApproveCommand(config, context, options.approve, target, say);
        } else if (options.revoke) {
          await recover.recoverRevokeCommand(config, context, options.revoke, say);
        } else {
          await recover.recoverListCommand(config, context, say);
        }
      },
    );

  program
    .command('runbook')
    .description(
      'The ordered recovery plan of one production account, from the inventory: keys and configuration first ' +
        '(parameters, secrets), then data stores (RDS, Aurora, DynamoDB), then images and volumes (AMIs, EBS). ' +
        'Steps of a stage can run in parallel. Each step names the newest copy, its restore time from the last ' +
        "passed drill (or, marked as an estimate, the kind's restore-time target) and the exact commands; the " +
        "expected total is the sum of each stage's slowest step. Read-only.",
    )
    .addOption(accountOption('--account', 'the production account').makeOptionMandatory())
    .addOption(new Option('--format <format>', 'md for people, json for tools').choices(['md', 'json']).default('md'))
    .addOption(accountOption('--to-account', 'the recovery account (default: left as $TO_ACCOUNT in the commands)'))
    .addOption(regionOption('--to-region', 'the Region to restore into (default: left as $TO_REGION)'))
    .addOption(configOption())
    .addOption(endpointOption())
    .addOption(profileOption())
    .addOption(operatorOption())
    .action(
      async (options: {
        account: string;
        format: 'md' | 'json';
        toAccount?: string;
        toRegion?: string;
        config: string;
        endpoint?: string;
        profile?: string;
        operator?: boolean;
      }) => {
        const config = loadConfig(options.config);
        const { readRunbook, runbookText } = await import('../cli/runbook');
        const { backupContext } = await import('../cli/aws-session');
        const context = await backupContext(config, options);
        const runbook = await readRunbook(
          config,
          context,
          {
            account: options.account,
            toAccount: options.toAccount,
            toRegion: options.toRegion,
            ...(options.endpoint ? { configFile: options.config, endpoint: options.endpoint } : {}),
          },
          new Date(),
        );
        process.stdout.write(runbookText(runbook, options.format));
      },
    );
}

program
  .command('coverage')
  .description(
    'What production has that Bunker does not back up, and what to change: every database, cluster, volume, ' +
      'image, parameter, secret and table the reader roles can list, of every kind, in scope or not, each with ' +
      'why it is not covered (region-not-registered, kind-disabled, outside-scope, outside-prefix, no-fresh-copy, ' +
      'default-key, tde; no-pitr is advice only) and the fix. Read-only.\n' +
      'It looks in the registered Regions and in every other Region each source account has enabled (asked with ' +
      'DescribeRegions through its reader role); --probe-regions narrows the latter to the Regions it names. A ' +
      'Region where the reader role is refused (a source stack older than this, a service control policy) is ' +
      'reported as unknown, with what to do. Progress goes to stderr, one line per account and Region.\n' +
      'Exit status: 0 when everything listed is covered, 2 when anything is not, 1 on an error (including a ' +
      'registered Region that could not be listed).\n' +
      'Like status, it needs the operator role in AWS (--operator).',
  )
  .addOption(configOption())
  .addOption(endpointOption())
  .addOption(profileOption())
  .addOption(operatorOption())
  .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
  .addOption(accountOption('--account', 'only this source account'))
  .addOption(
    new Option(
      '--probe-regions <regions>',
      'comma-separated Regions not registered to look in (default: every Region the account has enabled)',
    ).argParser((v) => {
      const regions = v.split(',').map((r) => r.trim());
      for (const r of regions) {
        if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/.test(r)) {
          throw new InvalidArgumentError(`expected Regions such as eu-west-1,us-east-2, got "${r}"`);
        }
      }
      return regions;
    }),
  )
  .action(
    async (options: {
      config: string;
      endpoint?: string;
      profile?: string;
      operator?: boolean;
      output: 'table' | 'json';
      account?: string;
      probeRegions?: string[];
    }) => {
      const config = loadConfig(options.config);
      const { readCoverage, coverageJson, coverageTable } = await import('../cli/coverage');
      const { coverageExitCode } = await import('../lambdas/core/coverage/coverage');
      const { backupContext } = await import('../cli/aws-session');
      // The reader roles trust the operator role: as it, always on the emulator (as status does).
      const operator = options.operator === true || options.endpoint !== undefined;
      const context = await backupContext(config, { endpoint: options.endpoint, profile: options.profile, operator });
      const report = await readCoverage(
        config,
        context,
        {
          account: options.account,
          probeRegions: options.probeRegions,
          progress: (line) => process.stderr.write(`coverage: ${line}\n`),
        },
        new Date(),
      );
      say(options.output === 'json' ? coverageJson(report) : coverageTable(report));
      process.exitCode = coverageExitCode(report);
    },
  );

program
  .command('report')
  .description(
    'Write one self-contained HTML page (no network needed to view it): freshness over time per source account ' +
      'and kind against the RPO, the resources that breach or are at risk, and the newest copy of each.',
  )
  .requiredOption('--html <file>', 'where to write the page')
  .addOption(
    new Option('--days <n>', 'how many days the freshness charts go back').default(14).argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 366)
        throw new InvalidArgumentError('expected a whole number of days, 1 to 366');
      return n;
    }),
  )
  .addOption(configOption())
  .addOption(endpointOption())
  .addOption(profileOption())
  .addOption(operatorOption())
  .action(
    async (options: {
      html: string;
      days: number;
      config: string;
      endpoint?: string;
      profile?: string;
      operator?: boolean;
    }) => {
      const config = loadConfig(options.config);
      const { writeReport } = await import('../cli/report');
      const { readStatus } = await import('../cli/status');
      const { backupContext } = await import('../cli/aws-session');
      // The audit reads through the reader roles: as the operator role, as `status` does (always on the emulator).
      const operator = options.operator === true || options.endpoint !== undefined;
      const written = await writeReport(
        config,
        options.html,
        { endpoint: options.endpoint, profile: options.profile, operator, days: options.days },
        async (context) => {
          const auditContext = options.endpoint
            ? await backupContext(config, { endpoint: options.endpoint, operator: true })
            : context;
          return (await readStatus(config, auditContext, {}, new Date(), undefined, operator)).resources;
        },
      );
      say(
        `Wrote ${options.html}: ${written.copies} copy record(s), ${written.pulled} pulled resource(s), ${written.resources} audited resource(s).`,
      );
    },
  );

program
  .command('scp')
  .description(
    'Print the service control policy to attach to the backup account: only the pruner deletes copies, only a deployment changes keys and guards (see README).',
  )
  .addOption(configOption())
  .addOption(
    new Option('--partition <partition>', 'AWS partition of the ARNs')
      .choices(['aws', 'aws-cn', 'aws-us-gov'])
      .default('aws'),
  )
  .action(async (options: { config: string; partition: string }) => {
    const { scpText } = await import('../cli/scp');
    say(scpText(loadConfig(options.config), options.partition));
  });

const configCommand = program.command('config').description('Check or describe the configuration file.');
configCommand
  .command('validate')
  .description('Validate a configuration file and print a summary, or every problem with its key path.')
  .addOption(configOption())
  .action((options: { config: string }) => {
    const config = loadConfig(options.config);
    // What the vault's synthesis would refuse, said before a deployment instead of during one.
    const problem = alertAddressProblem(config);
    if (problem) throw new BunkerError(`${options.config} would not deploy: ${problem}`);
    const regions = config.sources.reduce((n, s) => n + s.regions.length, 0);
    const kinds = Object.entries(config.artifacts)
      .filter(([, policy]) => policy.enabled)
      .map(([kind]) => kind);
    say(
      `${options.config} is valid: backup account ${config.backup.account} in ${config.backup.region}, ` +
        `${config.sources.length} source account(s) in ${regions} Region(s), enabled: ${kinds.join(', ') || 'nothing'}.`,
    );
    const organization = describeOrganization(config);
    if (organization) say(organization);
    say(trailNote(config));
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
