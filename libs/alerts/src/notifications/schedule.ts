/** Pure time arithmetic for quiet hours, the daily digest and retries. */

/** Minutes since local midnight and the local date (YYYY-MM-DD) of `at` in an IANA zone. */
export function localClock(at: Date, timeZone: string): { minutes: number; day: string } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  })
    .formatToParts(at)
    .reduce<Record<string, string>>((acc, p) => ((acc[p.type] = p.value), acc), {});
  return { minutes: Number(parts.hour) * 60 + Number(parts.minute), day: `${parts.year}-${parts.month}-${parts.day}` };
}

/** 'HH:MM' or 'HH:MM:SS' to minutes since midnight. */
export function parseTimeOfDay(value: string): number {
  const [h, m] = value.split(':').map(Number);
  return h * 60 + m;
}

/**
 * When `at` falls in the quiet window [start, end) (local time in timeZone; start > end spans
 * midnight, start = end means no window), the instant the window ends (to the minute); else null.
 * A DST change inside the window shifts the end by the change (the digest is then an hour early or late).
 */
export function quietUntil(at: Date, start: string | null, end: string | null, timeZone: string): Date | null {
  if (start === null || end === null) return null;
  const s = parseTimeOfDay(start);
  const e = parseTimeOfDay(end);
  if (s === e) return null;
  const { minutes } = localClock(at, timeZone);
  const inside = s < e ? minutes >= s && minutes < e : minutes >= s || minutes < e;
  if (!inside) return null;
  const untilEnd = (e - minutes + 1440) % 1440;
  const end0 = new Date(at.getTime() + untilEnd * 60_000);
  end0.setUTCSeconds(0, 0);
  return end0;
}

/** Exponential backoff with "equal jitter": half the delay fixed, half random, capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** True once the local time of day in timeZone has reached `localTime` (HH:MM) on the local day. */
export function digestDue(at: Date, localTime: string, timeZone: string): { due: boolean; day: string } {
  const { minutes, day } = localClock(at, timeZone);
  return { due: minutes >= parseTimeOfDay(localTime), day };
}
