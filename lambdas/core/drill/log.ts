/**
 * How a resource's drill item changes when a drill finishes: the same rule
 * for the DynamoDB adapter and the in-memory double.
 */
import { type DrillResult, type DrillSummary, drillItemId } from './types';

/** A resource's drill item as stored: its summary, keyed and versioned. */
export interface DrillItem extends DrillSummary {
  readonly artifactId: string;
  /** Marks the item as a drill item (the copy inventory's scans pass it by). */
  readonly drill: 'latest';
  readonly version: number;
}

/**
 * The item after `result`: it becomes the latest drill unless a drill that
 * started later is already recorded (results may land out of order), and
 * the last passed drill moves only forward in time.
 */
export function summaryAfter(stored: DrillItem | undefined, result: DrillResult): DrillItem {
  const newer = (a: DrillResult | undefined, b: DrillResult) => (a && a.startedAt > b.startedAt ? a : b);
  const passed = result.outcome === 'passed' ? newer(stored?.lastPassed, result) : stored?.lastPassed;
  return {
    artifactId: drillItemId(result.subject),
    drill: 'latest',
    kind: result.subject.kind,
    account: result.subject.account,
    region: result.subject.region,
    resource: result.subject.resource,
    ...(result.subject.hop === 2 ? { hop: 2 as const } : {}),
    copyRegion: result.subject.copyRegion,
    last: newer(stored?.last, result),
    ...(passed ? { lastPassed: passed } : {}),
    version: (stored?.version ?? 0) + 1,
  };
}

/**
 * The summary an item holds, without its storage fields. An item written
 * before second-Region drills names no copy Region: its drills' subjects do.
 */
export function summaryOf(item: DrillItem): DrillSummary {
  return {
    kind: item.kind,
    account: item.account,
    region: item.region,
    resource: item.resource,
    ...(item.hop === 2 ? { hop: 2 as const } : {}),
    copyRegion: item.copyRegion ?? item.last.subject.copyRegion,
    last: item.last,
    ...(item.lastPassed ? { lastPassed: item.lastPassed } : {}),
  };
}
