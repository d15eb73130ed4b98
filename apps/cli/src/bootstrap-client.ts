import { BOOTSTRAP_PATH } from '#api';

/** What to do when the running app cannot be reached: the one sentence of README and docs/api.md. */
export const REACH_THE_APP =
  'run it while the app runs with the same HTTP_PORT as the app (or pass --url http://HOST:PORT of the app), or while the app is stopped';

/** Asks the running app (which holds the embedded database) for the first ops-admin key. */
export async function bootstrapViaApp(base: string, adminToken: string, name: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${base}${BOOTSTRAP_PATH}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, ...) is its cause.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const why = typeof cause?.message === 'string' ? cause.message : String(err);
    throw new Error(`the app holds the database but does not answer at ${base} (${why}): ${REACH_THE_APP}`, { cause: err });
  }
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: { message?: string } };
  if (res.ok && typeof body.token === 'string') return body.token;
  if (res.status === 401) throw new Error(`the app at ${base} refused the admin token: use the app's ADMIN_TOKEN (or its DATA_DIR)`);
  throw new Error(body.error?.message ?? `${base} answered ${res.status}, not like this app: ${REACH_THE_APP}`);
}
