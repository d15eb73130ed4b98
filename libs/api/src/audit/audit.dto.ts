import { z } from 'zod';

export const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** Return entries older than this id (the last id of the previous page); ids are bigints. */
  before: z
    .string()
    .regex(/^[1-9]\d{0,17}$/, 'an audit entry id (a positive integer below 10^18)')
    .optional(),
  action: z.string().max(100).optional(),
  targetId: z.string().max(200).optional(),
});

export const auditRecordView = z.object({
  id: z.string(),
  at: z.iso.datetime(),
  requestId: z.string().nullable().describe('The request id of the response (the client\u2019s own when it sent one)'),
  serverRequestId: z.string().nullable().describe('The id this server minted for the request, whatever the client sent'),
  actorKeyId: z.string().nullable(),
  actorName: z.string(),
  actorRole: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  providerId: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
});
export const auditPage = z.object({ items: z.array(auditRecordView), nextBefore: z.string().nullable() });
