import { describe, expect, it } from '@jest/globals';
import { collectMicrotaskThrows } from '#testing/microtask-throws.js';
import { AckTimeoutError, BatchWriter, WriterClosedError, type BatchWriterOptions, type WriteOutcome } from './batch-writer.js';

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs = 1000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(1);
  }
}

class DataError extends Error {}
class TransientError extends Error {}

/** A write() stub whose every call is held until the test settles it. */
class ControlledWrite<T> {
  readonly calls: { items: T[]; done: Deferred }[] = [];
  inFlight = 0;
  maxInFlight = 0;

  readonly write = (items: T[]): Promise<void> => {
    const done = deferred();
    this.calls.push({ items: [...items], done });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return done.promise.finally(() => {
      this.inFlight--;
    });
  };

  resolve(i: number): void {
    this.calls[i].done.resolve();
  }

  reject(i: number, err: unknown): void {
    this.calls[i].done.reject(err);
  }
}

function options<T>(write: (items: T[]) => Promise<void>, overrides: Partial<BatchWriterOptions<T>> = {}): BatchWriterOptions<T> {
  return {
    name: 'test',
    maxBatchRows: 3,
    maxWaitMs: 20,
    maxBufferedRows: 100,
    admissionTimeoutMs: 1000,
    concurrency: 1,
    retryBaseMs: 1,
    retryMaxMs: 4,
    write,
    isDataError: (err) => err instanceof DataError,
    ...overrides,
  };
}

/** Tracks whether a promise has settled, and how. */
function track<T>(p: Promise<T>): { settled: () => boolean; value: () => T | undefined; error: () => unknown } {
  let settled = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => {
      settled = true;
      value = v;
    },
    (e: unknown) => {
      settled = true;
      error = e;
    },
  );
  return { settled: () => settled, value: () => value, error: () => error };
}

describe('BatchWriter batching', () => {
  it('writes a full batch as soon as maxBatchRows items are queued, without waiting for maxWaitMs', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 3, maxWaitMs: 300 }));
    const a = writer.submit(1);
    const b = writer.submit(2);
    expect(w.calls.length).toBe(0);
    const c = writer.submit(3);
    expect(w.calls.length).toBe(1);
    expect(w.calls[0].items).toStrictEqual([1, 2, 3]);
    w.resolve(0);
    expect(await Promise.all([a, b, c])).toStrictEqual(['committed', 'committed', 'committed']);
    expect(writer.buffered).toBe(0);
  });

  it('splits a burst into batches of at most maxBatchRows', async () => {
    const written: number[][] = [];
    const writer = new BatchWriter<number>(
      options(
        async (items) => {
          written.push([...items]);
        },
        { maxBatchRows: 2, maxWaitMs: 5, concurrency: 1 },
      ),
    );
    const outcomes = await Promise.all([1, 2, 3, 4, 5].map((n) => writer.submit(n)));
    expect(outcomes).toStrictEqual(['committed', 'committed', 'committed', 'committed', 'committed']);
    expect(written.every((batch) => batch.length <= 2)).toBeTruthy();
    expect(written.flat()).toStrictEqual([1, 2, 3, 4, 5]);
  });

  it('writes a partial batch once maxWaitMs has passed', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 10, maxWaitMs: 30 }));
    const started = Date.now();
    const a = writer.submit('a');
    const b = writer.submit('b');
    await delay(10);
    expect(w.calls.length).toBe(0);
    await waitFor(() => w.calls.length === 1, 1000, 'partial flush');
    const elapsed = Date.now() - started;
    expect(elapsed >= 25).toBeTruthy();
    expect(elapsed < 250).toBeTruthy();
    expect(w.calls[0].items).toStrictEqual(['a', 'b']);
    w.resolve(0);
    expect(await Promise.all([a, b])).toStrictEqual(['committed', 'committed']);
  });

  it("settles each submit() as 'committed' only after its batch's write() resolved", async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 2 }));
    const events: string[] = [];
    const a = writer.submit(1).then((o) => {
      events.push(`a:${o}`);
      return o;
    });
    const b = writer.submit(2).then((o) => {
      events.push(`b:${o}`);
      return o;
    });
    expect(w.calls.length).toBe(1);
    await delay(5);
    expect(events.length).toBe(0);
    events.push('write-resolved');
    w.resolve(0);
    await Promise.all([a, b]);
    expect(events).toStrictEqual(['write-resolved', 'a:committed', 'b:committed']);
  });

  it('reports commits through onCommit with the batch size', async () => {
    const commits: number[] = [];
    const durations: number[] = [];
    const writer = new BatchWriter<number>(
      options(async () => undefined, {
        maxBatchRows: 2,
        hooks: {
          onCommit: (rows, seconds) => {
            commits.push(rows);
            durations.push(seconds);
          },
        },
      }),
    );
    await Promise.all([writer.submit(1), writer.submit(2), writer.submit(3)]);
    expect(commits).toStrictEqual([2, 1]);
    expect(durations.every((s) => s >= 0 && s < 5)).toBeTruthy();
  });
});

describe('BatchWriter bounded memory', () => {
  it('makes submit() wait when maxBufferedRows is reached and admits waiters when a batch completes', async () => {
    const w = new ControlledWrite<string>();
    const depth: [number, number][] = [];
    const writer = new BatchWriter<string>(
      options(w.write, {
        maxBatchRows: 2,
        maxBufferedRows: 2,
        concurrency: 1,
        admissionTimeoutMs: 2000,
        hooks: { onDepth: (buffered, waiting) => depth.push([buffered, waiting]) },
      }),
    );
    const a = track(writer.submit('a'));
    const b = track(writer.submit('b'));
    expect(w.calls.length).toBe(1);
    expect(writer.buffered).toBe(2);
    expect(writer.waiting).toBe(0);

    const c = track(writer.submit('c'));
    expect(writer.waiting).toBe(1);
    const d = track(writer.submit('d'));
    expect(writer.waiting).toBe(2);
    expect(writer.buffered).toBe(2);
    expect(depth.at(-1)).toStrictEqual([2, 2]);

    await delay(30); // well past maxWaitMs: waiting items must still not be written
    expect(w.calls.length).toBe(1);
    expect(c.settled() || d.settled()).toBe(false);

    w.resolve(0);
    await waitFor(() => w.calls.length === 2, 1000, 'second batch');
    expect(a.value()).toBe('committed');
    expect(b.value()).toBe('committed');
    expect(writer.waiting).toBe(0);
    expect(w.calls[1].items).toStrictEqual(['c', 'd']);
    expect(c.settled()).toBe(false);
    w.resolve(1);
    await waitFor(() => c.settled() && d.settled(), 1000, 'c and d');
    expect(c.value()).toBe('committed');
    expect(d.value()).toBe('committed');
    expect(writer.buffered).toBe(0);
  });

  it('a new submit() queues behind existing waiters even when a slot looks free', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 1, maxBufferedRows: 1, concurrency: 1 }));
    const a = writer.submit('a');
    const b = writer.submit('b');
    expect(writer.waiting).toBe(1);
    w.resolve(0);
    await a;
    await waitFor(() => w.calls.length === 2);
    expect(w.calls[1].items).toStrictEqual(['b']);
    w.resolve(1);
    expect(await b).toBe('committed');
  });

  it('rejects a waiting submit() with AckTimeoutError after admissionTimeoutMs and forgets it', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 1, maxBufferedRows: 1, concurrency: 1, admissionTimeoutMs: 20 }));
    const a = writer.submit('a');
    const started = Date.now();
    const b = writer.submit('b');
    expect(writer.waiting).toBe(1);
    await expect(b).rejects.toThrow(AckTimeoutError);
    await expect(b).rejects.toMatchObject({ name: 'AckTimeoutError' });
    expect(Date.now() - started >= 15).toBeTruthy();
    expect(writer.waiting).toBe(0);

    w.resolve(0);
    expect(await a).toBe('committed');
    await delay(30);
    expect(w.calls.length).toBe(1);
    expect(writer.buffered).toBe(0);
  });

  it('tryOffer() returns false when the buffer is full and true otherwise', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 2, maxBufferedRows: 2, concurrency: 1 }));
    expect(writer.tryOffer('a')).toBe(true);
    expect(writer.tryOffer('b')).toBe(true);
    expect(writer.buffered).toBe(2);
    expect(writer.tryOffer('c')).toBe(false);
    expect(writer.buffered).toBe(2);
    expect(writer.waiting).toBe(0);
    w.resolve(0);
    await waitFor(() => writer.buffered === 0);
    expect(writer.tryOffer('d')).toBe(true);
    await waitFor(() => w.calls.length === 2, 1000, 'offered item written');
    expect(w.calls.map((c) => c.items)).toStrictEqual([['a', 'b'], ['d']]);
    w.resolve(1);
    await writer.close();
    expect(writer.tryOffer('e')).toBe(false);
  });
});

describe('BatchWriter failures', () => {
  it('retries the same batch on a transient error until it succeeds, then commits', async () => {
    let attempts = 0;
    const calls: number[][] = [];
    const errors: [number, number][] = [];
    const events: string[] = [];
    const writer = new BatchWriter<number>(
      options(
        async (items) => {
          calls.push([...items]);
          attempts++;
          if (attempts <= 3) throw new TransientError('connection refused');
          events.push('write-succeeded');
        },
        { maxBatchRows: 2, retryBaseMs: 1, retryMaxMs: 4, hooks: { onError: (_err, rows, attempt) => errors.push([rows, attempt]) } },
      ),
    );
    const outcomes = await Promise.all([writer.submit(1).then((o) => (events.push('settled'), o)), writer.submit(2).then((o) => (events.push('settled'), o))]);
    expect(outcomes).toStrictEqual(['committed', 'committed']);
    expect(calls).toStrictEqual([
      [1, 2],
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(errors).toStrictEqual([
      [2, 1],
      [2, 2],
      [2, 3],
    ]);
    expect(events).toStrictEqual(['write-succeeded', 'settled', 'settled']);
  });

  it('holds items unsettled while transient errors continue', async () => {
    let failing = true;
    let calls = 0;
    const writer = new BatchWriter<number>(
      options(
        async () => {
          calls++;
          if (failing) throw new TransientError('db down');
        },
        { maxBatchRows: 1, retryBaseMs: 1, retryMaxMs: 2 },
      ),
    );
    const p = track(writer.submit(1));
    await waitFor(() => calls >= 5, 1000, 'several retries');
    expect(p.settled()).toBe(false);
    failing = false;
    await waitFor(() => p.settled(), 1000, 'commit after recovery');
    expect(p.value()).toBe('committed');
  });

  it('bisects a batch failing on bad data: the bad item is rejected, the others committed exactly once', async () => {
    const committed: string[] = [];
    const rejected: [string, unknown][] = [];
    const writer = new BatchWriter<string>(
      options(
        async (items) => {
          if (items.includes('BAD')) throw new DataError('invalid input syntax');
          committed.push(...items);
        },
        { maxBatchRows: 5, hooks: { onRejected: (item, err) => rejected.push([item, err]) } },
      ),
    );
    const items = ['a', 'b', 'BAD', 'c', 'd'];
    const outcomes = await Promise.all(items.map((i) => writer.submit(i)));
    expect(outcomes).toStrictEqual(['committed', 'committed', 'rejected', 'committed', 'committed']);
    expect([...committed].sort()).toStrictEqual(['a', 'b', 'c', 'd']);
    expect(rejected.length).toBe(1);
    expect(rejected[0][0]).toBe('BAD');
    expect(rejected[0][1] instanceof DataError).toBeTruthy();
    await waitFor(() => writer.buffered === 0, 1000, 'buffer released');
  });

  it('rejects every bad item of a batch and commits the rest', async () => {
    const committed: number[] = [];
    const rejected: number[] = [];
    const writer = new BatchWriter<number>(
      options(
        async (items) => {
          if (items.some((n) => n < 0)) throw new DataError('check constraint');
          committed.push(...items);
        },
        { maxBatchRows: 4, hooks: { onRejected: (item) => rejected.push(item) } },
      ),
    );
    const outcomes = await Promise.all([-1, 2, 3, -4].map((n) => writer.submit(n)));
    expect(outcomes).toStrictEqual(['rejected', 'committed', 'committed', 'rejected']);
    expect(committed.sort((x, y) => x - y)).toStrictEqual([2, 3]);
    expect(rejected.sort((x, y) => x - y)).toStrictEqual([-4, -1]);
  });

  it('a single-item batch with a data error is rejected without retrying', async () => {
    let calls = 0;
    const writer = new BatchWriter<number>(
      options(
        async () => {
          calls++;
          throw new DataError('bad');
        },
        { maxBatchRows: 1 },
      ),
    );
    expect(await writer.submit(1)).toBe('rejected' satisfies WriteOutcome);
    expect(calls).toBe(1);
  });
});

describe('BatchWriter regressions', () => {
  it('regression: a partial batch that aged out while every slot was busy is written as soon as a slot frees', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 10, maxWaitMs: 30, concurrency: 1 }));
    void writer.submit('a');
    await waitFor(() => w.calls.length === 1, 1000, 'first batch'); // 'a' in flight, the only slot busy
    void writer.submit('b');
    await delay(45); // b's flush timer fired while the slot was busy: b is overdue
    void writer.submit('c'); // starts a new 30 ms timer
    await delay(2);
    const freed = Date.now();
    w.resolve(0);
    await waitFor(() => w.calls.length === 2, 1000, 'second batch');
    const lag = Date.now() - freed;
    w.resolve(1);
    await writer.close();
    expect(lag < 15).toBeTruthy();
  });

  it('regression: a throwing onCommit hook does not make a committed batch be written again', async () => {
    let writes = 0;
    const writer = new BatchWriter<string>(
      options(
        async () => {
          writes++;
        },
        {
          maxBatchRows: 1,
          hooks: {
            onCommit: () => {
              if (writes === 1) throw new Error('metrics label error');
            },
          },
        },
      ),
    );
    expect(await writer.submit('x')).toBe('committed');
    expect(writes).toBe(1);
  });
});

describe('BatchWriter concurrency', () => {
  it('never runs more than `concurrency` write() calls at once and starts the next batch when one finishes', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 1, maxBufferedRows: 100, concurrency: 2 }));
    const all = [1, 2, 3, 4, 5].map((n) => writer.submit(n));
    expect(w.calls.length).toBe(2);
    await delay(30); // past maxWaitMs: still only two in flight
    expect(w.calls.length).toBe(2);
    expect(w.inFlight).toBe(2);
    w.resolve(1);
    await waitFor(() => w.calls.length === 3, 1000, 'third batch');
    expect(w.inFlight).toBe(2);
    expect(w.calls[2].items).toStrictEqual([3]);
    w.resolve(0);
    w.resolve(2);
    await waitFor(() => w.calls.length === 5, 1000, 'remaining batches');
    w.resolve(3);
    w.resolve(4);
    expect(await Promise.all(all)).toStrictEqual(['committed', 'committed', 'committed', 'committed', 'committed']);
    expect(w.maxInFlight).toBe(2);
  });

  it('respects the limit under a randomised load', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let written = 0;
    const writer = new BatchWriter<number>(
      options(
        async (items) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await delay(Math.floor(Math.random() * 4));
          inFlight--;
          written += items.length;
        },
        { maxBatchRows: 3, maxWaitMs: 2, maxBufferedRows: 10, concurrency: 3 },
      ),
    );
    const outcomes = await Promise.all(Array.from({ length: 120 }, (_, i) => writer.submit(i)));
    expect(outcomes.every((o) => o === 'committed')).toBeTruthy();
    expect(written).toBe(120);
    expect(maxInFlight <= 3).toBeTruthy();
    expect(maxInFlight >= 2).toBeTruthy();
  });
});

describe('BatchWriter close()', () => {
  it('flushes queued partial batches at once and resolves after they are written', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 10, maxWaitMs: 200 }));
    const items = [writer.submit(1), writer.submit(2), writer.submit(3)];
    const closed = track(writer.close());
    expect(w.calls.length).toBe(1);
    expect(w.calls[0].items).toStrictEqual([1, 2, 3]);
    await delay(5);
    expect(closed.settled()).toBe(false);
    w.resolve(0);
    expect(await Promise.all(items)).toStrictEqual(['committed', 'committed', 'committed']);
    await waitFor(() => closed.settled());
    expect(closed.error()).toBe(undefined);
  });

  it('also writes waiting submitters and resolves only when everything is written', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 2, maxBufferedRows: 2, concurrency: 1, admissionTimeoutMs: 30 }));
    const all = ['a', 'b', 'c', 'd', 'e'].map((s) => track(writer.submit(s)));
    expect(writer.waiting).toBe(3);
    const closed = track(writer.close());
    expect(writer.waiting).toBe(0);
    await delay(50); // beyond admissionTimeoutMs: taken-in waiters must not time out
    expect(all.every((p) => !p.settled())).toBeTruthy();

    w.resolve(0);
    await waitFor(() => w.calls.length === 2, 1000, 'second batch');
    expect(closed.settled()).toBe(false);
    w.resolve(1);
    await waitFor(() => w.calls.length === 3, 1000, 'last partial batch');
    expect(closed.settled()).toBe(false);
    w.resolve(2);
    await waitFor(() => closed.settled(), 1000, 'close');
    expect(w.calls.map((c) => c.items)).toStrictEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(all.map((p) => p.value())).toStrictEqual(['committed', 'committed', 'committed', 'committed', 'committed']);
    expect(writer.buffered).toBe(0);
  });

  it('resolves at once when nothing is held', async () => {
    const writer = new BatchWriter<number>(options(async () => undefined));
    await writer.close();
    expect(writer.buffered).toBe(0);
  });

  it('rejects submit() after close() with WriterClosedError', async () => {
    let calls = 0;
    const writer = new BatchWriter<number>(
      options(async () => {
        calls++;
      }),
    );
    await writer.close();
    const closed = writer.submit(1);
    await expect(closed).rejects.toThrow(WriterClosedError);
    await expect(closed).rejects.toMatchObject({ name: 'WriterClosedError' });
    await delay(30);
    expect(calls).toBe(0);
  });
});

describe('BatchWriter submitWith() (callback form)', () => {
  it('calls back once per item, with the item, only after its batch committed; bad items as rejected', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 3 }));
    const calls: [Error | null, WriteOutcome | null, string][] = [];
    const done = (err: Error | null, outcome: WriteOutcome | null, item: string) => calls.push([err, outcome, item]);
    for (const item of ['a', 'bad', 'c']) writer.submitWith(item, done);
    await waitFor(() => w.calls.length === 1, 1000, 'batch');
    await delay(5);
    expect(calls).toStrictEqual([]);
    w.reject(0, new DataError('bad row'));
    // Bisected: ['a', 'bad'] then ['c']; ['a', 'bad'] into ['a'] and ['bad'].
    await waitFor(() => w.calls.length === 2, 1000, 'first half');
    w.reject(1, new DataError('bad row'));
    await waitFor(() => w.calls.length === 3, 1000, "'a'");
    w.resolve(2);
    await waitFor(() => w.calls.length === 4, 1000, "'bad'");
    w.reject(3, new DataError('bad row'));
    await waitFor(() => w.calls.length === 5, 1000, "'c'");
    w.resolve(4);
    await waitFor(() => calls.length === 3, 1000, 'callbacks');
    await delay(5);
    expect(calls).toStrictEqual([
      [null, 'committed', 'a'],
      [null, 'rejected', 'bad'],
      [null, 'committed', 'c'],
    ]);
  });

  it('calls back with AckTimeoutError when no buffer space came within admissionTimeoutMs', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 1, maxBufferedRows: 1, admissionTimeoutMs: 20 }));
    writer.submitWith(1, () => undefined);
    const calls: [Error | null, WriteOutcome | null, number][] = [];
    writer.submitWith(2, (err, outcome, item) => calls.push([err, outcome, item]));
    await waitFor(() => calls.length === 1, 1000, 'timeout');
    expect(calls[0][0]).toBeInstanceOf(AckTimeoutError);
    expect(calls[0].slice(1)).toStrictEqual([null, 2]);
    expect(writer.waiting).toBe(0);
  });

  it('calls back with WriterClosedError after close(), and never writes the item', async () => {
    let writes = 0;
    const writer = new BatchWriter<number>(
      options(async () => {
        writes++;
      }),
    );
    await writer.close();
    const calls: (Error | null)[] = [];
    writer.submitWith(1, (err) => calls.push(err));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toBeInstanceOf(WriterClosedError);
    await delay(30);
    expect(writes).toBe(0);
  });

  it('a throwing callback does not keep the rest of its batch from being settled; the error is rethrown on its own', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 3 }));
    const settled: number[] = [];
    const rethrown = await collectMicrotaskThrows(async () => {
      writer.submitWith(1, (_err, _outcome, item) => settled.push(item));
      writer.submitWith(2, () => {
        throw new Error('handler bug');
      });
      writer.submitWith(3, (_err, _outcome, item) => settled.push(item));
      await waitFor(() => w.calls.length === 1, 1000, 'batch');
      w.resolve(0);
      await waitFor(() => settled.length === 2, 1000, 'the other items');
    });
    expect(settled).toStrictEqual([1, 3]);
    expect(rethrown).toHaveLength(1);
    expect((rethrown[0] as Error).message).toBe('handler bug');
    expect(w.calls).toHaveLength(1);
  });
});
