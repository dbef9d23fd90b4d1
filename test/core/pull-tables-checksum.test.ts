import { describe, expect, it } from 'vitest';
import { canonicalItem, ItemsChecksum, itemsChecksum } from '../../lambdas/core/pull/dynamodb/checksum';

// Expected sums computed outside Bunker (Python hashlib over the canonical texts).
const ONE = { pk: { S: 'a' } };
const TWO = { s: { SS: ['y', 'x'] }, pk: { S: 'b' }, n: { N: '1' } };

describe('table items checksum', () => {
  it('is SHA-256 of the canonical DynamoDB JSON for one item', () => {
    expect(itemsChecksum([ONE])).toBe(
      'items-sha256-sum:83c10959759d7aeb254f2883a47758a16f6b929c6e9db3e7ed9f8f4c491220be',
    );
  });

  it('sorts attribute names and set members in the canonical text', () => {
    expect(canonicalItem(TWO)).toBe('{"n":{"N":"1"},"pk":{"S":"b"},"s":{"SS":["x","y"]}}');
    expect(canonicalItem({ m: { M: { z: { S: '1' }, a: { S: '2' } } } })).toBe(
      '{"m":{"M":{"a":{"S":"2"},"z":{"S":"1"}}}}',
    );
  });

  it('adds item hashes modulo 2^256, whatever the order', () => {
    const expected = 'items-sha256-sum:07659975da4728df29e00c449cd3b3166590287680443714fb6cf4920f6f8bad';
    expect(itemsChecksum([ONE, TWO])).toBe(expected);
    expect(itemsChecksum([TWO, ONE])).toBe(expected);
  });

  it('goes on from a saved state and takes an item away again', () => {
    const first = new ItemsChecksum();
    first.add(ONE);
    const resumed = new ItemsChecksum(first.state());
    resumed.add(TWO);
    expect(resumed.count).toBe(2);
    expect(resumed.value).toBe('items-sha256-sum:07659975da4728df29e00c449cd3b3166590287680443714fb6cf4920f6f8bad');
    resumed.remove(TWO);
    expect(resumed.value).toBe('items-sha256-sum:83c10959759d7aeb254f2883a47758a16f6b929c6e9db3e7ed9f8f4c491220be');
  });

  it('of nothing is zero', () => {
    expect(itemsChecksum([])).toBe(`items-sha256-sum:${'0'.repeat(64)}`);
  });
});
