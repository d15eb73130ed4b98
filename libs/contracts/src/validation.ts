import type { z } from 'zod';

/** Machine-readable reasons a message is rejected; used as metric labels and dead-letter reasons. */
export const RejectReason = {
  PayloadTooLarge: 'payload_too_large',
  MalformedJson: 'malformed_json',
  UnsupportedVersion: 'unsupported_version',
  SchemaViolation: 'schema_violation',
  ClockSkew: 'clock_skew',
  UnknownTopic: 'unknown_topic',
  AclDenied: 'acl_denied',
  /** A command ack naming no command. */
  UnknownCommand: 'unknown_command',
  /** A command ack naming another terminal's command (never applied). */
  ForeignCommand: 'foreign_command',
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/**
 * A schema's optional fast path: given the parsed JSON object, its undeclared fields when it is
 * certainly valid (then it is the value as is), or null when the schema must decide. It may refuse
 * more than the schema, never less: refusals are always worded by the schema.
 */
export type FastCheck = (raw: Record<string, unknown>) => { extra: Record<string, unknown> | null } | null;

export type ParseResult<T> = { ok: true; value: T; extra: Record<string, unknown> | null } | { ok: false; reason: RejectReason; detail: string };

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Collects keys present in `raw` but not declared by the schema's shape, recursively for nested objects. */
export function extraFields(raw: unknown, known: unknown): Record<string, unknown> | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const shape = shapeOf(known);
  if (!shape) return null;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!Object.hasOwn(shape, key)) {
      out[key] = value;
      continue;
    }
    const nested = extraFields(value, shape[key]);
    if (nested) out[key] = nested;
  }
  return Object.keys(out).length > 0 ? out : null;
}

function shapeOf(schema: unknown): Record<string, unknown> | null {
  let current: unknown = schema;
  // unwrap optional/default wrappers
  for (let i = 0; i < 4 && current && typeof current === 'object'; i++) {
    const def = (current as { def?: { type?: string; innerType?: unknown; shape?: Record<string, unknown> } }).def;
    if (!def) return null;
    if (def.type === 'object' && def.shape) return def.shape;
    if (def.innerType) current = def.innerType;
    else return null;
  }
  return null;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot be stored as Postgres text or jsonb: NUL, or a lone surrogate (JSON `"\ud800"`). */
function unstorable(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(text)) return 'contains a lone surrogate (not a Unicode character)';
  return null;
}

/** The first string (value or key) that no Postgres text or jsonb value can hold: its path and why. */
export function findUnstorableText(value: unknown, path = ''): { path: string; problem: string } | null {
  if (typeof value === 'string') {
    const problem = unstorable(value);
    return problem ? { path: path || '(root)', problem } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const at = path ? `${path}.${key}` : key;
    const keyProblem = unstorable(key);
    if (keyProblem) return { path: at, problem: `key ${keyProblem}` };
    const found = findUnstorableText(child, at);
    if (found) return found;
  }
  return null;
}

/**
 * Parses an MQTT payload against a versioned schema. Never throws: every failure comes back as a
 * specific reason plus a human-readable detail.
 */
export function parsePayload<S extends z.ZodType>(
  payload: Buffer | Uint8Array | string,
  schema: S,
  options: { maxBytes: number; supportedVersions: readonly number[]; fast?: FastCheck },
): ParseResult<z.infer<S>> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > options.maxBytes) {
    return { ok: false, reason: 'payload_too_large', detail: `payload is ${size} bytes, limit is ${options.maxBytes}` };
  }
  let text: string;
  try {
    // Strict: a lenient decode would store U+FFFD in place of the bytes the terminal sent.
    text = typeof payload === 'string' ? payload : strictUtf8.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed_json', detail: 'payload is not valid UTF-8' };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: 'malformed_json', detail: err instanceof Error ? err.message : 'invalid JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, reason: 'malformed_json', detail: 'payload must be a JSON object' };
  }
  const version = (raw as { v?: unknown }).v;
  if (typeof version !== 'number' || !options.supportedVersions.includes(version)) {
    return {
      ok: false,
      reason: 'unsupported_version',
      detail: `schema version ${JSON.stringify(version ?? null)} not supported (supported: ${options.supportedVersions.join(', ')})`,
    };
  }
  if (options.fast) {
    const fast = options.fast(raw as Record<string, unknown>);
    // The parsed JSON is ours alone, and the schema would return an equal copy of it.
    if (fast) return { ok: true, value: raw as z.infer<S>, extra: fast.extra };
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    return { ok: false, reason: 'schema_violation', detail: describeIssues(result.error) };
  }
  // After the schema, so a bad field is reported by its rule first; extra fields are checked too.
  const bad = findUnstorableText(raw);
  if (bad) return { ok: false, reason: 'schema_violation', detail: `${bad.path}: ${bad.problem}` };
  return { ok: true, value: result.data, extra: extraFields(raw, schema) };
}
