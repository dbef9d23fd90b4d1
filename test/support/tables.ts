/**
 * The DynamoDB tables the pulled-tables tests pull and restore, shared by the
 * core's tests (over sim/memory-tables) and the emulator's, so a case written
 * against one table reads the same in both. A test changes only what its case
 * is about (`{ pointInTimeRecovery: true }`, a throughput it measures) and
 * keeps the rest.
 */
import type { Item, TableSpec } from '../../lambdas/core/pull/dynamodb/types';

/** A table as a test creates it: the ARN is the service's to give. */
export type NewTableSpec = Omit<TableSpec, 'arn'>;

/** The smallest table: `orders`, hash key `pk` (S), on demand, no indexes, stream, TTL or point-in-time recovery. */
export function plainTableSpec(overrides: Partial<NewTableSpec> = {}): NewTableSpec {
  return {
    name: 'orders',
    keySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    attributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    billingMode: 'PAY_PER_REQUEST',
    localIndexes: [],
    globalIndexes: [],
    pointInTimeRecovery: false,
    ...overrides,
  };
}

/**
 * `orders` with everything a restore has to bring back: a composite key
 * (`pk` S, `sk` N), provisioned throughput, a local index and a global index
 * on `n` (N), the global one with an INCLUDE projection and a throughput of
 * its own that differs from the table's (so a restore that copied the
 * table's would show), a stream with both images and TTL on `expires`.
 */
export function indexedOrdersSpec(overrides: Partial<NewTableSpec> = {}): NewTableSpec {
  return {
    name: 'orders',
    keySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    attributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'N' },
      { AttributeName: 'n', AttributeType: 'N' },
    ],
    billingMode: 'PROVISIONED',
    provisioned: { read: 50, write: 10 },
    localIndexes: [
      {
        name: 'by-n',
        keySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'n', KeyType: 'RANGE' },
        ],
        projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
    globalIndexes: [
      {
        name: 'n-global',
        keySchema: [{ AttributeName: 'n', KeyType: 'HASH' }],
        projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['tags'] },
        provisioned: { read: 7, write: 3 },
      },
    ],
    streamViewType: 'NEW_AND_OLD_IMAGES',
    ttlAttribute: 'expires',
    pointInTimeRecovery: false,
    ...overrides,
  };
}

/** Item `i` of {@link indexedOrdersSpec}: key `item-<i>`/0, `n` (the global index's key) `n`. */
export const orderItem = (i: number, n = i): Item => ({ pk: { S: `item-${i}` }, sk: { N: '0' }, n: { N: String(n) } });
