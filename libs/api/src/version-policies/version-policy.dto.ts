import { z } from 'zod';

export const VERSION_COMPONENTS = ['firmware', 'app'] as const;
export type VersionComponent = (typeof VERSION_COMPONENTS)[number];
export const BLOCKED_MAX = 200;

/** A model as terminals register it: 1-64 characters, no control characters. */
const model = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');
const version = z.string().min(1).max(64).regex(/^\S+$/, 'a version without spaces');

export const versionPolicyParams = z.object({
  model: model.describe('Terminal model, exactly as registered'),
  component: z.enum(VERSION_COMPONENTS).describe('firmware or app (the payment application)'),
});
export type VersionPolicyParams = z.output<typeof versionPolicyParams>;

/** Endpoints without query parameters still refuse unknown ones (400 naming them). */
export const noQuery = z.object({});

export const versionPolicyListQuery = z.object({
  model: model.optional().describe('Only this model'),
  component: z.enum(VERSION_COMPONENTS).optional(),
});

export const putVersionPolicyBody = z
  .object({
    minSupported: version
      .nullable()
      .default(null)
      .describe('Terminals below this version are outdated (alert firmware_outdated / app_outdated); null: no minimum'),
    latest: version.nullable().default(null).describe('The current release; terminals below it for too long raise *_not_latest; null: none'),
    blocked: z.array(version).max(BLOCKED_MAX).default([]).describe('Versions that must not run (outdated whatever their number)'),
  })
  .strict();
export type PutVersionPolicyBody = z.output<typeof putVersionPolicyBody>;

const isoTime = z.iso.datetime();
export const versionPolicyView = z.object({
  model: z.string(),
  component: z.enum(VERSION_COMPONENTS),
  minSupported: z.string().nullable(),
  latest: z.string().nullable(),
  latestSince: isoTime.nullable().describe('When `latest` was last changed; "not on latest for N days" counts from here'),
  blocked: z.array(z.string()),
  updatedAt: isoTime,
});
export type VersionPolicyView = z.output<typeof versionPolicyView>;
export const versionPolicyList = z.object({ items: z.array(versionPolicyView) });
