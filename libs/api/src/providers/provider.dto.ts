import { z } from 'zod';

export const providerIdParam = z.object({ id: z.uuid() });

export const createProviderBody = z.object({
  code: z.string().regex(/^[a-z0-9][a-z0-9_-]{1,63}$/, 'lowercase letters, digits, "-" or "_", 2-64 characters'),
  name: z.string().trim().min(1).max(200),
  /** Defaults to the caller's own provider (provider keys) or the root (ops keys). */
  parentId: z.uuid().optional(),
});

export const updateProviderBody = z
  .object({ name: z.string().trim().min(1).max(200).optional(), parentId: z.uuid().optional() })
  .refine((b) => b.name !== undefined || b.parentId !== undefined, 'give name and/or parentId');

export const providerView = z.object({
  id: z.uuid(),
  parentId: z.uuid().nullable(),
  code: z.string(),
  name: z.string(),
  depth: z.number().int(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const providerList = z.object({ items: z.array(providerView) });
export const providerTree = z.object({
  items: z.array(providerView.extend({ children: z.array(z.record(z.string(), z.unknown())).describe('nested provider nodes of the same shape') })),
});
