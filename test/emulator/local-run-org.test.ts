/**
 * `bunker local run` with organizational units: it enrols the units'
 * accounts first, as the hourly enrolment would, then queues each pulled
 * kind's fan-out job, as the kind's enrolled rule would, and the real pull
 * handler expands it and pulls the enrolled account. What landed in the
 * vault bucket is read with boto3, never through Bunker's adapters.
 */
import {
  CreateAccountCommand,
  CreateOrganizationalUnitCommand,
  CreateOrganizationCommand,
  ListRootsCommand,
  MoveAccountCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { beforeAll, describe, expect, it } from 'vitest';
import { localRun, type LocalRunSummary } from '../../cli/local/run';
import { vaultBucketName } from '../../lambdas/core/names';
import { parseConfig } from '../../lib/config/load';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';

const endpoint = emulatorEndpoint();
const REGION = 'eu-west-1';
const SCOPE = { tag: { key: 'bunker:backup', value: 'true' } };

describe('bunker local run with organizational units', () => {
  const backup = freshAccountId();
  const listed = freshAccountId();
  let enrolled: string;
  let summary: LocalRunSummary;
  const progress: string[] = [];

  beforeAll(async () => {
    const management = freshAccountId();
    const org = new OrganizationsClient(clientConfig(endpoint, management, 'us-east-1'));
    const { Organization } = await org.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
    const { Roots } = await org.send(new ListRootsCommand({}));
    const root = Roots?.[0]?.Id ?? '';
    const { OrganizationalUnit } = await org.send(
      new CreateOrganizationalUnitCommand({ ParentId: root, Name: 'prod' }),
    );
    const unit = OrganizationalUnit?.Id ?? '';
    const { CreateAccountStatus } = await org.send(
      new CreateAccountCommand({ AccountName: 'ledger', Email: 'ledger@example.com' }),
    );
    enrolled = CreateAccountStatus?.AccountId ?? '';
    await org.send(new MoveAccountCommand({ AccountId: enrolled, SourceParentId: root, DestinationParentId: unit }));
    org.destroy();

    const ssm = new SSMClient(clientConfig(endpoint, enrolled, REGION));
    await ssm.send(
      new PutParameterCommand({
        Name: '/ledger/db/host',
        Value: 'ledger.internal',
        Type: 'String',
        Tags: [{ Key: 'bunker:backup', Value: 'true' }],
      }),
    );
    ssm.destroy();

    const config = parseConfig({
      name: 'bunker',
      backup: { account: backup, region: REGION },
      sources: [{ account: listed, regions: [REGION] }],
      artifacts: { ssm: { enabled: true, scope: SCOPE, paths: ['/ledger/'] } },
      organization: {
        id: Organization?.Id ?? '',
        managementAccount: management,
        units: [{ id: unit, regions: [REGION] }],
      },
    });
    summary = await localRun(config, endpoint, { progress: (line) => progress.push(line) });
  });

  it('enrols the account of the unit before the pulls', () => {
    expect(summary.enrolment?.enrolled).toEqual([enrolled]);
  });

  it("pulls the enrolled account through its kind's fan-out job, and the listed account by its own schedule", async () => {
    expect(progress).toContain('1 fan-out(s) to the enrolled accounts due: ssm');
    expect(summary.pulls.map((run) => [run.kind, run.account, run.region, run.inScope]).sort()).toEqual(
      [
        ['ssm', enrolled, REGION, 1],
        ['ssm', listed, REGION, 0],
      ].sort(),
    );
    const keys = await boto3<string[]>(
      endpoint,
      backup,
      `out([v['Key'] for v in client('s3').list_object_versions(Bucket=ARGS['bucket'], Prefix='ssm/').get('Versions', [])])`,
      { bucket: vaultBucketName('bunker', backup, REGION) },
      REGION,
    );
    expect(keys.filter((key) => key.startsWith(`ssm/${enrolled}/${REGION}/`))).toHaveLength(1);
    expect(keys.filter((key) => !key.startsWith(`ssm/${enrolled}/`))).toEqual([]);
  });
});
