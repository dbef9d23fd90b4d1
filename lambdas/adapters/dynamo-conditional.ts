/**
 * The conditional writes the inventory table's records share (copy records
 * and pulled records alike): an item is created only if its `artifactId` is
 * new, and replaced only if the stored `version` is still the one the writer
 * read, so two workers racing on one record can never both win. A lost race
 * is an answer (`false`), not an error.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, type PutCommandInput } from '@aws-sdk/lib-dynamodb';

/** A record keyed by `artifactId` whose every write bumps `version`. */
export interface VersionedItem {
  readonly artifactId: string;
  readonly version: number;
}

export const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error as { name?: string })?.name === 'ConditionalCheckFailedException';

/** Which items of a cancelled transaction failed their condition (by position). */
export function cancelledConditions(error: unknown): boolean[] | undefined {
  const e = error as { name?: string; CancellationReasons?: { Code?: string }[] };
  if (e?.name !== 'TransactionCanceledException' || !e.CancellationReasons) return undefined;
  return e.CancellationReasons.map((reason) => reason.Code === 'ConditionalCheckFailed');
}

/** The put of a new `item`, failing its condition if the `artifactId` is taken. */
export function putNew<T extends VersionedItem>(tableName: string, item: T) {
  return { TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(artifactId)' };
}

/** The conditional put of `next` over `expected`, as a plain or a transaction item. */
export function putOver<T extends VersionedItem>(tableName: string, expected: VersionedItem, next: T) {
  return {
    TableName: tableName,
    Item: next,
    ConditionExpression: 'attribute_exists(artifactId) AND #version = :version',
    ExpressionAttributeNames: { '#version': 'version' },
    ExpressionAttributeValues: { ':version': expected.version },
  };
}

/** Sends a conditional put: `true` if it was written, `false` if its condition failed. */
export async function sendConditionalPut(doc: DynamoDBDocumentClient, input: PutCommandInput): Promise<boolean> {
  try {
    await doc.send(new PutCommand(input));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
