import { z } from 'zod';
import { ALERT_LOCALES, ALERT_RULES, SEVERITIES } from '#alerts';
import { SN_PATTERN } from '../terminals/terminal.dto.js';

export const ALERT_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
export const ALERT_SORTS = ['firstSeen', 'lastSeen'] as const;
export type AlertSort = (typeof ALERT_SORTS)[number];
export const ALERT_LIST_MAX_LIMIT = 500;
/** Alert ids are bigint identities: at most 18 digits keeps every accepted id inside bigint. */
export const ALERT_ID_PATTERN = /^[1-9]\d{0,17}$/;

/** A comma-separated list of enum values (`state=open,acknowledged`), at least one. */
const csvEnum = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .max(1000)
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    )
    .pipe(z.array(z.enum(values)).min(1))
    .transform((xs) => [...new Set(xs)]);

const YEAR_10000 = Date.UTC(10000, 0, 1);
/** An ISO instant the database can take (zod alone accepts year 0, which Postgres refuses). */
const instant = z.iso.datetime({ offset: true }).refine((v) => Date.parse(v) >= 0 && Date.parse(v) < YEAR_10000, 'a time between 1970 and 9999');

export const alertIdParam = z.object({ id: z.string().regex(ALERT_ID_PATTERN, 'an alert id (a positive integer)').describe('Alert id') });
export const langQuery = z.object({
  lang: z.enum(ALERT_LOCALES).default('en').describe('Language of `text`: zh-CN or en'),
});

/** Filters shared by the list and the CSV export. */
export const alertFilterQuery = z.object({
  rule: csvEnum(ALERT_RULES)
    .optional()
    .describe(`Rule ids, comma-separated: ${ALERT_RULES.join(', ')}`),
  severity: csvEnum(SEVERITIES).optional().describe('Severities, comma-separated: info, warning, critical'),
  state: csvEnum(ALERT_STATES).optional().describe('States, comma-separated: open, acknowledged, resolved'),
  providerId: z.uuid().optional().describe('Only terminals of this provider and its sub-providers (must be in scope)'),
  sn: z.string().regex(SN_PATTERN, 'not a terminal serial number').optional().describe('Only this terminal'),
  from: instant.optional().describe('first_seen_at at or after this time'),
  to: instant.optional().describe('first_seen_at before this time'),
  sort: z.enum(ALERT_SORTS).default('firstSeen').describe('firstSeen or lastSeen; ties broken by id'),
  order: z.enum(['asc', 'desc']).default('desc'),
  lang: langQuery.shape.lang,
});
export type AlertFilterQuery = z.output<typeof alertFilterQuery>;

const page = {
  limit: z.coerce.number().int().min(1).max(ALERT_LIST_MAX_LIMIT).default(50),
  cursor: z.string().max(1000).optional().describe('nextCursor of the previous page'),
};
export const alertListQuery = alertFilterQuery.extend(page);
export type AlertListQuery = z.output<typeof alertListQuery>;

export const terminalAlertsQuery = z.object({
  state: alertFilterQuery.shape.state,
  lang: langQuery.shape.lang,
  ...page,
});
export type TerminalAlertsQuery = z.output<typeof terminalAlertsQuery>;

// ---- views ----

const isoTime = z.iso.datetime();

export const alertView = z.object({
  id: z.string(),
  sn: z.string(),
  providerId: z.uuid().describe('The terminal\u2019s current provider'),
  rule: z.enum(ALERT_RULES),
  severity: z.enum(SEVERITIES),
  state: z.enum(ALERT_STATES),
  text: z
    .object({ title: z.string(), body: z.string().describe('What happened, the likely cause and what to do') })
    .describe('Human-readable text in the requested `lang`'),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).describe('Facts behind the alert'),
  firstSeenAt: isoTime,
  lastSeenAt: isoTime,
  occurrences: z.number().int(),
  acknowledgedAt: isoTime.nullable(),
  acknowledgedBy: z.string().nullable().describe('Name of the API key that acknowledged it'),
  resolvedAt: isoTime.nullable(),
  resolvedBy: z.string().nullable().describe('"system" when the condition cleared, else the API key\u2019s name'),
});
export type AlertView = z.output<typeof alertView>;

export const alertPage = z.object({
  items: z.array(alertView),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});
