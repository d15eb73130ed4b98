import { z } from 'zod';
import { ROLES } from './roles.js';

export const createKeyBody = z.object({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    // Actors the backend itself writes (e.g. created_by of commands it queues) use this prefix.
    .refine((n) => !n.toLowerCase().startsWith('system:'), 'the "system:" prefix is reserved'),
  role: z.enum(ROLES as [string, ...string[]]),
  /** Required for provider roles: the provider whose subtree the key may act on. */
  providerId: z.uuid().optional(),
});

export const keyIdParam = z.object({ id: z.uuid() });

export const apiKeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  role: z.enum(ROLES as [string, ...string[]]),
  providerId: z.uuid().nullable(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export const apiKeyList = z.object({ items: z.array(apiKeyView) });
export const issuedKeyView = z.object({ key: apiKeyView, token: z.string().describe('The API key; shown only in this response') });
