import { z } from 'zod';
import { RELEASE_COMPONENTS, RELEASE_STATUSES } from '#ota';

export const releaseIdParam = z.object({ id: z.uuid() });

const sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'SHA-256 as 64 hex characters')
  .transform((s) => s.toLowerCase());
const signature = z
  .string()
  .regex(/^[A-Za-z0-9+/]{86}==$/, 'an Ed25519 signature: 64 bytes in base64')
  .describe('Ed25519 signature over the 32 raw bytes of the artifact\u2019s SHA-256 digest, base64 (`npm run releases -- sign`)');

export const createReleaseBody = z
  .object({
    model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-", 1-64 characters'),
    component: z.enum(RELEASE_COMPONENTS),
    version: z.string().trim().min(1).max(128).describe('The model\u2019s own version string (e.g. E20_V3.2.1); compared with the alert rules\u2019 rule'),
    releaseNotes: z.string().max(20_000).default(''),
    minBatteryPct: z.number().int().min(0).max(100).nullable().default(null),
    signature,
    keyId: z
      .string()
      .regex(/^[0-9a-f]{16}$/, 'a release key id: 16 lowercase hex characters')
      .nullable()
      .default(null)
      .describe('The signing key\u2019s id (printed by keygen and sign); omitted: any configured release key may verify'),
    artifactUrl: z
      .url({ protocol: /^https$/, hostname: z.regexes.domain })
      .max(2000)
      .nullable()
      .default(null)
      .describe('An external artifact (https CDN), not downloaded: sizeBytes and sha256 are then required'),
    sizeBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().default(null),
    sha256: sha256Hex.nullable().default(null).describe('Required with artifactUrl; for an upload, the digest the bytes must have (optional)'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.artifactUrl !== null) {
      if (b.sizeBytes === null) ctx.addIssue({ code: 'custom', path: ['sizeBytes'], message: 'required with artifactUrl' });
      if (b.sha256 === null) ctx.addIssue({ code: 'custom', path: ['sha256'], message: 'required with artifactUrl' });
    } else if (b.sizeBytes !== null) {
      ctx.addIssue({ code: 'custom', path: ['sizeBytes'], message: 'only with artifactUrl (an upload\u2019s size is measured)' });
    }
  });

export const releaseListQuery = z.object({
  model: z.string().max(64).optional(),
  component: z.enum(RELEASE_COMPONENTS).optional(),
  status: z.enum(RELEASE_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});

/** What every role sees of a release. */
export const releaseCatalogView = z.object({
  id: z.uuid(),
  model: z.string(),
  component: z.enum(RELEASE_COMPONENTS),
  version: z.string(),
  status: z.enum(RELEASE_STATUSES),
  releaseNotes: z.string(),
  minBatteryPct: z.number().int().nullable(),
  sizeBytes: z.number().int().nullable(),
  sha256: z.string().nullable(),
  createdAt: z.iso.datetime(),
  withdrawnAt: z.iso.datetime().nullable(),
});

/** Ops roles also see where the artifact is, the signature and who created it. */
export const releaseView = releaseCatalogView.extend({
  artifact: z
    .discriminatedUnion('kind', [
      z.object({ kind: z.literal('stored'), path: z.string().describe('File name under OTA_ARTIFACT_DIR') }),
      z.object({ kind: z.literal('external'), url: z.string() }),
    ])
    .nullable()
    .optional()
    .describe('Ops roles only; null for a draft'),
  signature: z.string().optional().describe('Ops roles only'),
  keyId: z.string().nullable().optional().describe('Ops roles only: the release key the signature verified against'),
  createdBy: z.string().optional().describe('Ops roles only'),
  updatedAt: z.iso.datetime().optional().describe('Ops roles only'),
  uploadPath: z.string().optional().describe('Drafts: where to PUT the artifact'),
});
export const releaseList = z.object({ items: z.array(releaseView) });

/** Query of a signed download URL; checked by its signature (403), so only lengths here. */
export const artifactDownloadQuery = z.object({
  sn: z.string().max(64).optional(),
  cmd: z.string().max(128).optional(),
  exp: z.string().max(20).optional(),
  sig: z.string().max(128).optional(),
});
export const artifactIdParam = z.object({ releaseId: z.string().max(64) });
