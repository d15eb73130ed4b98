/** The gateway's HTTP side as the ingest bench uses it: readiness, enrolment and /metrics. */
import { performance } from 'node:perf_hooks';
import { INTERNAL_HTTP_PATHS, type RegisterTerminalsResponse } from '#contracts';
import { MetricsSnapshot } from './prom-text.js';
import { pause } from './run-lifecycle.js';

export interface Scrape {
  snapshot: MetricsSnapshot;
  /** performance.now() halfway through the request. */
  at: number;
}

export async function scrape(httpUrl: string): Promise<Scrape> {
  const started = performance.now();
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  const ended = performance.now();
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  return { snapshot: MetricsSnapshot.parse(text), at: (started + ended) / 2 };
}

export async function waitReady(httpUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${httpUrl}/health/ready`, { signal: AbortSignal.timeout(3_000) });
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await pause(250);
  }
  throw new Error(`gateway not ready within ${timeoutMs} ms: ${last}`);
}

export const benchSn = (i: number): string => `BENCH${String(i).padStart(6, '0')}`;

/** Enrols `count` terminals (SNs from `snOf`, under `providerCode` or the root) through the internal endpoint. */
export async function registerTerminals(
  httpUrl: string,
  adminToken: string,
  count: number,
  batch: number,
  opts: { snOf?: (i: number) => string; providerCode?: string } = {},
): Promise<{ sn: string; secret: string }[]> {
  const snOf = opts.snOf ?? benchSn;
  const out: { sn: string; secret: string }[] = [];
  for (let from = 0; from < count; from += batch) {
    const terminals = [];
    for (let i = from; i < Math.min(count, from + batch); i++) terminals.push({ sn: snOf(i), model: 'EP-T1', providerCode: opts.providerCode });
    const res = await fetch(`${httpUrl}${INTERNAL_HTTP_PATHS.registerTerminals}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ terminals }),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`registering terminals: HTTP ${res.status}: ${text.slice(0, 500)}`);
    const body = JSON.parse(text) as RegisterTerminalsResponse;
    if (body.errors.length > 0) throw new Error(`registering terminals: ${JSON.stringify(body.errors.slice(0, 3))}`);
    for (const c of body.credentials) out.push({ sn: c.sn, secret: c.secret });
  }
  return out;
}
