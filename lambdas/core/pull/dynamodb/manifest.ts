/**
 * Bunker's manifest of one table dump (`dynamodb/<account>/<region>/<table>/<dumpId>/manifest.json`),
 * written last: a dump without one is unfinished and no restore reads it.
 * It holds what a restore needs to recreate the table faithfully and to
 * prove the data came back whole.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Item, TableSpec } from './types';

export const MANIFEST_FORMAT = 1;
export type DumpMethod = 'scan' | 'export-full' | 'export-incremental';

export interface DumpFile {
  /** Store key of the file (gzip, one JSON object a line). */
  readonly key: string;
  /** Items (full dumps) or change records (incremental exports) in the file. */
  readonly count: number;
  /** SHA-256 (hex) of the stored bytes. */
  readonly sha256: string;
}

export interface DumpManifest {
  readonly format: number;
  readonly dumpId: string;
  readonly account: string;
  readonly region: string;
  readonly table: TableSpec;
  readonly method: DumpMethod;
  /** A full dump: the time the data is as of (export time, or the scan's start). */
  readonly pointInTime?: string;
  /** An incremental export's window, and the dump it follows in the chain. */
  readonly from?: string;
  readonly to?: string;
  readonly after?: string;
  /** Full dumps: items; incremental exports: change records. */
  readonly itemCount: number;
  readonly checksum: string;
  readonly files: readonly DumpFile[];
  /** The export's ARN (exports only). */
  readonly exportArn?: string;
  readonly createdAt: string;
}

export const tablePrefix = (account: string, region: string, table: string) =>
  `dynamodb/${account}/${region}/${table}/`;
export const dumpPrefix = (account: string, region: string, table: string, dumpId: string) =>
  `${tablePrefix(account, region, table)}${dumpId}/`;
export const manifestKey = (account: string, region: string, table: string, dumpId: string) =>
  `${dumpPrefix(account, region, table, dumpId)}manifest.json`;

/** `20261122T160000Z`: key order is time order. */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function dumpIdOf(at: Date, method: DumpMethod): string {
  return `${compactUtc(at)}-${method}`;
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Items as a dump file: gzip of `{"Item": …}` lines, the export's own format. */
export function encodeItemsFile(items: readonly Item[]): Uint8Array {
  return gzipSync(Buffer.from(items.map((item) => `${JSON.stringify({ Item: item })}\n`).join('')));
}

/** The JSON objects of a gzip JSON-lines file (export data files and Bunker's parts alike). */
export function decodeLines(body: Uint8Array): Record<string, unknown>[] {
  return gunzipSync(body)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function encodeManifest(manifest: DumpManifest): Uint8Array {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

export function decodeManifest(body: Uint8Array): DumpManifest {
  const manifest = JSON.parse(Buffer.from(body).toString('utf8')) as DumpManifest;
  if (manifest.format !== MANIFEST_FORMAT) throw new Error(`unknown table manifest format ${String(manifest.format)}`);
  return manifest;
}
