/**
 * Receipts: the vault tells a source agent that the backup account now holds
 * its own copy of an intermediate, so the agent may delete it. The vault
 * publishes to a topic in the source account (backup → production, never
 * the other way); the agent still re-reads the intermediate before acting,
 * and a receipt can only ever lead to the deletion of the agent's own
 * `bunker-share-*` intermediates.
 */
import * as z from 'zod/mini';
import './zod-messages';
import { KIND_NAMES, type KindName } from '../kinds/types';
import type { InventoryRecord } from './inventory';

export const RECEIPT_VERSION = 1;

/** Built at its first parse, not at load (see lambdas/core/settings.ts). */
export const ReceiptSchema = z.lazy(() =>
  z.strictObject({
    version: z.literal(RECEIPT_VERSION),
    kind: z.enum(KIND_NAMES),
    account: z.string().check(z.regex(/^\d{12}$/)),
    region: z.string().check(z.regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/)),
    /** The shared intermediate the vault copied. */
    id: z.string().check(z.minLength(1), z.maxLength(255)),
    copiedAt: z.iso.datetime({ offset: true }),
  }),
);

export type Receipt = z.infer<typeof ReceiptSchema>;

/** Sends receipts to the source accounts' receipts topics. */
export interface ReceiptSender {
  send(receipt: Receipt): Promise<void>;
}

/** The receipt of an available copy; `undefined` for a record that names no artifact. */
export function receiptOf(record: InventoryRecord, at: Date): Receipt | undefined {
  if (record.kind === 'unknown' || !record.sourceAccount || !record.sourceRegion || !record.sourceId) return undefined;
  return {
    version: RECEIPT_VERSION,
    kind: record.kind,
    account: record.sourceAccount,
    region: record.sourceRegion,
    id: record.sourceId,
    copiedAt: (record.completedAt ? new Date(record.completedAt) : at).toISOString(),
  };
}

/** A receipt as delivered, or why it is not one. Never throws. */
export function parseReceipt(body: string): { ok: true; receipt: Receipt } | { ok: false; reason: string } {
  if (body.length > 2048) return { ok: false, reason: `receipt too large: ${body.length} characters` };
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'receipt is not JSON' };
  }
  const result = ReceiptSchema.safeParse(document);
  return result.success
    ? { ok: true, receipt: result.data }
    : { ok: false, reason: 'receipt does not match the schema' };
}

export type { KindName };
