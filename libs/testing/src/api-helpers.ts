/** A clock a test moves by hand; it fits any `{ now(): Date }` port (e.g. the command ledger's clock). */
export class ManualClock {
  private t: number;
  constructor(start: Date | number = Date.now()) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/** Calls the fleet API with a bearer key: JSON in, JSON out (null for an empty body). */
export function apiCaller<Default = Record<string, unknown>>(baseUrl: string) {
  return async <T = Default>(method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer<T>> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
}
