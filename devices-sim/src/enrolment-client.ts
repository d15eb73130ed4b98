/**
 * Enrols simulated terminals through the gateway's internal HTTP endpoints (see INTERNAL_HTTP_PATHS).
 * Terminals already known to the gateway but missing from the local store (secret lost) get their
 * credentials rotated instead.
 */
import {
  INTERNAL_HTTP_PATHS,
  type RegisterTerminalsRequest,
  type RegisterTerminalsResponse,
  type RotateCredentialsRequest,
  type RowError,
  type TerminalRegistration,
} from '#contracts';
import type { CredentialsStore } from './credentials-store.js';

export const ENROLMENT_BATCH_SIZE = 500;

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface EnrolmentOptions {
  readonly httpUrl: string;
  /** Resolved lazily: only called when at least one terminal needs enrolment. */
  readonly adminToken: () => Promise<string>;
  readonly fetchFn?: FetchFn;
  readonly batchSize?: number;
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

export interface EnrolmentReport {
  readonly alreadyKnown: number;
  readonly registered: number;
  readonly rotated: number;
  /** Terminals that could not be enrolled (they are left out of the run). */
  readonly failed: ReadonlyArray<{ sn: string; code: string; message: string }>;
}

export class EnrolmentHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The contract leaves RowError.code open (the gateway currently sends TERMINAL_ALREADY_EXISTS); treat any
 * code or message that says the SN is already registered as such.
 */
export function isAlreadyExistsError(row: Pick<RowError, 'code' | 'message'>): boolean {
  if (isTidConflictError(row) || /in_request/i.test(row.code)) return false;
  return /exist|duplicate|conflict|taken/i.test(row.code) || /already (exists|registered)/i.test(row.message);
}

/** The SN is free but the TID belongs to another terminal (gateway code TERMINAL_TID_IN_USE). */
export function isTidConflictError(row: Pick<RowError, 'code' | 'message'>): boolean {
  return /tid/i.test(row.code) && /use|exist|taken|conflict|duplicate/i.test(row.code);
}

function isResponse(value: unknown): value is RegisterTerminalsResponse {
  if (value === null || typeof value !== 'object') return false;
  const v = value as { credentials?: unknown; errors?: unknown };
  return Array.isArray(v.credentials) && (v.errors === undefined || Array.isArray(v.errors));
}

async function postJson(
  options: EnrolmentOptions,
  path: string,
  body: RegisterTerminalsRequest | RotateCredentialsRequest,
  token: string,
): Promise<RegisterTerminalsResponse> {
  const fetchFn = options.fetchFn ?? fetch;
  const url = `${options.httpUrl}${path}`;
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    });
  } catch (err) {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new EnrolmentHttpError(0, `POST ${url} failed: ${cause}`);
  }
  const text = await res.text();
  if (res.status === 401 || res.status === 403) {
    throw new EnrolmentHttpError(res.status, `POST ${url}: admin token rejected (HTTP ${res.status})`);
  }
  if (!res.ok) throw new EnrolmentHttpError(res.status, `POST ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EnrolmentHttpError(res.status, `POST ${url}: response is not JSON: ${text.slice(0, 200)}`);
  }
  if (!isResponse(parsed)) throw new EnrolmentHttpError(res.status, `POST ${url}: unexpected response shape`);
  return { credentials: parsed.credentials, errors: parsed.errors ?? [] };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Makes sure `store` holds credentials for every registration, enrolling or rotating as needed. */
export async function ensureCredentials(
  registrations: readonly TerminalRegistration[],
  store: CredentialsStore,
  options: EnrolmentOptions,
): Promise<EnrolmentReport> {
  const missing = registrations.filter((r) => !store.has(r.sn));
  const alreadyKnown = registrations.length - missing.length;
  if (missing.length === 0) return { alreadyKnown, registered: 0, rotated: 0, failed: [] };

  const token = await options.adminToken();
  const batchSize = options.batchSize ?? ENROLMENT_BATCH_SIZE;
  const failed: Array<{ sn: string; code: string; message: string }> = [];
  const toRotate: string[] = [];
  let registered = 0;
  let rotated = 0;

  const accept = (res: RegisterTerminalsResponse): number => {
    for (const c of res.credentials) store.set({ sn: c.sn, username: c.username || c.sn, secret: c.secret });
    return res.credentials.length;
  };

  // Simulated TIDs can collide with terminals registered by someone else: such rows are retried once
  // without a TID (it is optional).
  let pending: readonly TerminalRegistration[] = missing;
  for (let pass = 0; pass < 2 && pending.length > 0; pass++) {
    const tidConflicts: TerminalRegistration[] = [];
    for (const batch of chunks(pending, batchSize)) {
      const res = await postJson(options, INTERNAL_HTTP_PATHS.registerTerminals, { terminals: batch }, token);
      registered += accept(res);
      for (const row of res.errors) {
        const reg = (row.sn === null ? undefined : batch.find((r) => r.sn === row.sn)) ?? batch[row.row - 1];
        const sn = row.sn ?? reg?.sn ?? null;
        if (sn === null) failed.push({ sn: `(row ${row.row})`, code: row.code, message: row.message });
        else if (isAlreadyExistsError(row)) toRotate.push(sn);
        else if (pass === 0 && reg && reg.tid !== undefined && isTidConflictError(row)) tidConflicts.push({ ...reg, tid: undefined });
        else failed.push({ sn, code: row.code, message: row.message });
      }
      // secrets are shown once: persist after every batch
      await store.save();
      options.onProgress?.(`enrolment: registered ${registered}/${missing.length}`);
    }
    pending = tidConflicts;
  }

  for (const batch of chunks(toRotate, batchSize)) {
    const res = await postJson(options, INTERNAL_HTTP_PATHS.rotateCredentials, { sns: batch }, token);
    rotated += accept(res);
    for (const row of res.errors) {
      const sn = row.sn ?? batch[row.row - 1] ?? `(row ${row.row})`;
      failed.push({ sn, code: row.code, message: row.message });
    }
    await store.save();
    options.onProgress?.(`enrolment: rotated credentials of ${rotated}/${toRotate.length} already-registered terminals`);
  }

  // anything the gateway neither returned nor reported is a failure too
  const reported = new Set(failed.map((f) => f.sn));
  for (const r of missing) {
    if (!store.has(r.sn) && !reported.has(r.sn)) {
      failed.push({ sn: r.sn, code: 'no_credentials', message: 'gateway returned no credentials for this SN' });
    }
  }
  return { alreadyKnown, registered, rotated, failed };
}
