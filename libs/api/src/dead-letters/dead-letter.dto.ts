import { z } from 'zod';
import { RejectReason } from '#contracts';
import { StorageRejectReason } from '#ingest';

/** Every reason the gateway dead-letters a message with (docs/protocol.md, reject reasons). */
export const DEAD_LETTER_REASONS = [...Object.values(RejectReason), StorageRejectReason] as const;

/** Dead-letter ids are bigints, as text. */
const deadLetterId = z.string().regex(/^[1-9]\d{0,17}$/, 'a dead-letter id (a positive integer below 10^18)');

export const deadLetterIdParam = z.object({ id: deadLetterId });

/** Each item carries its payload (up to DEAD_LETTER_MAX_PAYLOAD_BYTES), so pages are small. */
export const DEAD_LETTER_PAGE_MAX = 100;

export const deadLetterListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(DEAD_LETTER_PAGE_MAX).default(20).describe('Items per page (each carries its payload)'),
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
  reason: z.enum(DEAD_LETTER_REASONS).optional().describe('Only this reject reason'),
  topic: z.string().min(1).max(512).optional().describe('Only this exact topic (a NUL received in a topic is stored as the text \\u0000)'),
  clientId: z.string().min(1).max(256).optional().describe('Only this exact MQTT client id (terminals: their SN)'),
  from: z.iso.datetime({ offset: true }).optional().describe('Received at or after this time'),
  to: z.iso.datetime({ offset: true }).optional().describe('Received before this time'),
});
export type DeadLetterListQuery = z.output<typeof deadLetterListQuery>;

export const deadLetterView = z.object({
  id: z.string().describe('Newest letters have the highest ids'),
  receivedAt: z.iso.datetime(),
  clientId: z.string().nullable().describe('MQTT client id of the sender, null when unknown'),
  topic: z.string(),
  reason: z.string().describe('The reject reason (docs/protocol.md)'),
  detail: z.string().describe('What was wrong, e.g. the schema fields that failed'),
  payloadSize: z.number().int().describe('Size of the payload as received, in bytes'),
  payloadBase64: z.string().describe('The payload bytes exactly as received (standard base64), cut at DEAD_LETTER_MAX_PAYLOAD_BYTES'),
  truncated: z.boolean().describe('true when payloadBase64 holds only the first DEAD_LETTER_MAX_PAYLOAD_BYTES of payloadSize bytes'),
});
export type DeadLetterView = z.output<typeof deadLetterView>;

export const deadLetterPage = z.object({
  items: z.array(deadLetterView),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});
