/**
 * Wires the enrolment function and the intake's source registry from the
 * real adapters; the local mode and the tests call the same functions with
 * the emulator's endpoint and an account's credentials.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import type { EnrolmentDeps } from '../../core/enrolment/enrol';
import { orgReaderRoleArn } from '../../core/enrolment/names';
import { EnrolledSourceRegistry } from '../../core/enrolment/registry';
import type { EnrolmentSettings } from '../../core/enrolment/settings';
import { type Clock, type Log, type SourceRegistry, systemClock } from '../../core/ports';
import type { VaultSettings } from '../../core/settings';
import { type AwsContext, clientConfig } from '../aws-context';
import { DynamoEnrolments } from './dynamo-enrolments';
import { orgReaderClient, SdkOrganizationDirectory } from './organizations';
import { SnsIntakeTopics } from './sns-intake-topics';

export function enrolmentDeps(
  settings: EnrolmentSettings,
  context: AwsContext,
  log: Log,
  clock: Clock = systemClock,
): EnrolmentDeps {
  const roleArn = orgReaderRoleArn(settings.prefix, settings.managementAccount, settings.partition);
  return {
    settings,
    organization: new SdkOrganizationDirectory(orgReaderClient(context, roleArn, settings.partition)),
    topics: new SnsIntakeTopics(new SNSClient(clientConfig(context, settings.backupRegion)), settings),
    enrolments: new DynamoEnrolments(new DynamoDBClient(clientConfig(context)), settings.inventoryTable),
    clock,
    log,
  };
}

/** The listed sources, then the enrolled accounts recorded in the inventory table. */
export function sourceRegistry(
  settings: Pick<VaultSettings, 'sources' | 'inventoryTable'>,
  context: AwsContext,
  clock: Clock = systemClock,
): SourceRegistry {
  const enrolments = new DynamoEnrolments(new DynamoDBClient(clientConfig(context)), settings.inventoryTable);
  return new EnrolledSourceRegistry(settings.sources, enrolments, clock);
}
