/**
 * The DynamoDB side of a pulled table: the {@link TableSource} port (the
 * source account's tables, point-in-time recovery, exports and the export
 * staging bucket, all through the puller role) and the {@link TableTarget}
 * port a restore writes through. Items travel as DynamoDB JSON with binary
 * values in base64, as export files hold them, so one checksum and one file
 * format serve scans, exports and restores.
 */

/** One item in DynamoDB JSON (`{ "pk": { "S": "a" } }`), binary values base64. */
export type Item = Readonly<Record<string, unknown>>;

export interface KeySchemaElement {
  readonly AttributeName: string;
  readonly KeyType: 'HASH' | 'RANGE';
}

export interface AttributeDefinition {
  readonly AttributeName: string;
  readonly AttributeType: 'S' | 'N' | 'B';
}

export interface Projection {
  readonly ProjectionType: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  readonly NonKeyAttributes?: readonly string[];
}

export interface Capacity {
  readonly read: number;
  readonly write: number;
}

export interface IndexSpec {
  readonly name: string;
  readonly keySchema: readonly KeySchemaElement[];
  readonly projection: Projection;
  /** A global index's own throughput on a provisioned table. */
  readonly provisioned?: Capacity;
}

/** What a restore needs to recreate a table faithfully: the manifest's `table`. */
export interface TableSpec {
  readonly name: string;
  readonly arn: string;
  readonly keySchema: readonly KeySchemaElement[];
  readonly attributeDefinitions: readonly AttributeDefinition[];
  readonly billingMode: 'PROVISIONED' | 'PAY_PER_REQUEST';
  readonly provisioned?: Capacity;
  readonly localIndexes: readonly IndexSpec[];
  readonly globalIndexes: readonly IndexSpec[];
  /** `NEW_AND_OLD_IMAGES` … when a stream is on. */
  readonly streamViewType?: string;
  /** The TTL attribute when TTL is on. */
  readonly ttlAttribute?: string;
  readonly pointInTimeRecovery: boolean;
  readonly tableClass?: string;
  readonly sseType?: string;
}

export interface TableSummary {
  readonly name: string;
  readonly arn: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface PitrState {
  readonly enabled: boolean;
  /** The oldest time an export can read; after a chain's end it means a gap. */
  readonly earliestRestorable?: Date;
  readonly latestRestorable?: Date;
}

export interface ScanPageRequest {
  readonly table: string;
  readonly segment: number;
  readonly totalSegments: number;
  readonly limit: number;
  readonly startKey?: Item;
}

export interface ScanPage {
  readonly items: Item[];
  readonly lastKey?: Item;
  /** Read capacity units the page consumed, from the response's ConsumedCapacity. */
  readonly consumed: number;
}

export interface ExportRequest {
  readonly tableArn: string;
  /** Where in the staging bucket: the export's files land under `<prefix>/AWSDynamoDB/<exportId>/`. */
  readonly prefix: string;
  readonly type: 'FULL_EXPORT' | 'INCREMENTAL_EXPORT';
  /** A full export's point in time. */
  readonly exportTime?: Date;
  /** An incremental export's window. */
  readonly from?: Date;
  readonly to?: Date;
  /** The same token for the same (table, window): a retried start is the same export. */
  readonly clientToken: string;
}

export interface ExportStatus {
  readonly arn: string;
  readonly status: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  readonly failure?: string;
  /** Staging key of `manifest-summary.json` once COMPLETED. */
  readonly manifestKey?: string;
}

/** The source account's tables, read through the puller role. */
export interface TableSource {
  listTables(): Promise<TableSummary[]>;
  /** undefined when the table is gone. */
  describeTable(name: string): Promise<TableSpec | undefined>;
  pitr(name: string): Promise<PitrState>;
  scanPage(request: ScanPageRequest): Promise<ScanPage>;
  startExport(request: ExportRequest): Promise<{ arn: string }>;
  describeExport(arn: string): Promise<ExportStatus>;
  /** An object of the export staging bucket; undefined when missing. */
  readStaging(key: string): Promise<Uint8Array | undefined>;
}

export interface WriteResult {
  /** Items DynamoDB did not take (throttled) that the caller must send again. */
  readonly unprocessed: Item[];
}

/** The account and Region a restore writes into. */
export interface TableTarget {
  /** Creates the table from `spec` under `name` (LSIs, GSIs, billing, stream), waits for ACTIVE, then TTL and PITR. */
  createTable(name: string, spec: TableSpec): Promise<void>;
  /** Up to 25 puts; what comes back unprocessed is sent again by the caller. */
  batchPut(name: string, items: Item[]): Promise<WriteResult>;
  /** Every item of the table, for the count and checksum read back. */
  scanAll(name: string): AsyncIterable<Item[]>;
  describeTable(name: string): Promise<TableSpec | undefined>;
  /**
   * Creates and loads `name` with DynamoDB's import from S3 (DYNAMODB_JSON
   * lines, gzip), when the target supports it: no local indexes.
   */
  importTable?(name: string, spec: TableSpec, files: { name: string; body: Uint8Array }[]): Promise<void>;
}
