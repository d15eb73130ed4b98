import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
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

describe('BatchWriter batching', { timeout: 3000 }, () => {
  it('writes a full batch as soon as maxBatchRows items are queued, without waiting for maxWaitMs', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 3, maxWaitMs: 300 }));
    const a = writer.submit(1);
    const b = writer.submit(2);
    assert.equal(w.calls.length, 0, 'two of three rows: no write yet');
    const c = writer.submit(3);
    assert.equal(w.calls.length, 1, 'third row fills the batch: written synchronously');
    assert.deepEqual(w.calls[0].items, [1, 2, 3]);
    w.resolve(0);
    assert.deepEqual(await Promise.all([a, b, c]), ['committed', 'committed', 'committed']);
    assert.equal(writer.buffered, 0);
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
    assert.deepEqual(outcomes, ['committed', 'committed', 'committed', 'committed', 'committed']);
    assert.ok(written.every((batch) => batch.length <= 2), JSON.stringify(written));
    assert.deepEqual(written.flat(), [1, 2, 3, 4, 5], 'each item written once, in order');
  });

  it('writes a partial batch once maxWaitMs has passed', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 10, maxWaitMs: 30 }));
    const started = Date.now();
    const a = writer.submit('a');
    const b = writer.submit('b');
    await delay(10);
    assert.equal(w.calls.length, 0, 'not written before maxWaitMs');
    await waitFor(() => w.calls.length === 1, 1000, 'partial flush');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 25, `flushed after ${elapsed} ms, expected about 30`);
    assert.ok(elapsed < 250, `flushed after ${elapsed} ms, expected about 30`);
    assert.deepEqual(w.calls[0].items, ['a', 'b']);
    w.resolve(0);
    assert.deepEqual(await Promise.all([a, b]), ['committed', 'committed']);
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
    assert.equal(w.calls.length, 1);
    await delay(5);
    assert.equal(events.length, 0, 'nothing settles while the write is pending');
    events.push('write-resolved');
    w.resolve(0);
    await Promise.all([a, b]);
    assert.deepEqual(events, ['write-resolved', 'a:committed', 'b:committed']);
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
    assert.deepEqual(commits, [2, 1]);
    assert.ok(durations.every((s) => s >= 0 && s < 5), JSON.stringify(durations));
  });
});

describe('BatchWriter bounded memory', { timeout: 3000 }, () => {
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
    assert.equal(w.calls.length, 1);
    assert.equal(writer.buffered, 2);
    assert.equal(writer.waiting, 0);

    const c = track(writer.submit('c'));
    assert.equal(writer.waiting, 1);
    const d = track(writer.submit('d'));
    assert.equal(writer.waiting, 2);
    assert.equal(writer.buffered, 2, 'waiters are not buffered');
    assert.deepEqual(depth.at(-1), [2, 2], 'onDepth reports the waiting submitters');

    await delay(30); // well past maxWaitMs: waiting items must still not be written
    assert.equal(w.calls.length, 1, 'waiting items are not written while the buffer is full');
    assert.equal(c.settled() || d.settled(), false);

    w.resolve(0);
    await waitFor(() => w.calls.length === 2, 1000, 'second batch');
    assert.equal(a.value(), 'committed');
    assert.equal(b.value(), 'committed');
    assert.equal(writer.waiting, 0);
    assert.deepEqual(w.calls[1].items, ['c', 'd']);
    assert.equal(c.settled(), false, 'admitted but not yet committed');
    w.resolve(1);
    await waitFor(() => c.settled() && d.settled(), 1000, 'c and d');
    assert.equal(c.value(), 'committed');
    assert.equal(d.value(), 'committed');
    assert.equal(writer.buffered, 0);
  });

  it('a new submit() queues behind existing waiters even when a slot looks free', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 1, maxBufferedRows: 1, concurrency: 1 }));
    const a = writer.submit('a');
    const b = writer.submit('b');
    assert.equal(writer.waiting, 1);
    w.resolve(0);
    await a;
    await waitFor(() => w.calls.length === 2);
    assert.deepEqual(w.calls[1].items, ['b'], 'the waiter is admitted first');
    w.resolve(1);
    assert.equal(await b, 'committed');
  });

  it('rejects a waiting submit() with AckTimeoutError after admissionTimeoutMs and forgets it', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(
      options(w.write, { maxBatchRows: 1, maxBufferedRows: 1, concurrency: 1, admissionTimeoutMs: 20 }),
    );
    const a = writer.submit('a');
    const started = Date.now();
    const b = writer.submit('b');
    assert.equal(writer.waiting, 1);
    await assert.rejects(b, (err: unknown) => err instanceof AckTimeoutError && err.name === 'AckTimeoutError');
    assert.ok(Date.now() - started >= 15, 'not before the admission timeout');
    assert.equal(writer.waiting, 0, 'timed-out waiter removed');

    w.resolve(0);
    assert.equal(await a, 'committed');
    await delay(30);
    assert.equal(w.calls.length, 1, 'the timed-out item is never written');
    assert.equal(writer.buffered, 0);
  });

  it('tryOffer() returns false when the buffer is full and true otherwise', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(options(w.write, { maxBatchRows: 2, maxBufferedRows: 2, concurrency: 1 }));
    assert.equal(writer.tryOffer('a'), true);
    assert.equal(writer.tryOffer('b'), true);
    assert.equal(writer.buffered, 2);
    assert.equal(writer.tryOffer('c'), false);
    assert.equal(writer.buffered, 2, 'a refused offer is not buffered');
    assert.equal(writer.waiting, 0, 'tryOffer never waits');
    w.resolve(0);
    await waitFor(() => writer.buffered === 0);
    assert.equal(writer.tryOffer('d'), true);
    await waitFor(() => w.calls.length === 2, 1000, 'offered item written');
    assert.deepEqual(
      w.calls.map((c) => c.items),
      [['a', 'b'], ['d']],
    );
    w.resolve(1);
    await writer.close();
    assert.equal(writer.tryOffer('e'), false, 'refused after close');
  });
});

describe('BatchWriter failures', { timeout: 3000 }, () => {
  it('retries the same batch on a transient error until it succeeds, then commits', async (t) => {
    // The writer's backoff timers are unref'd; keep the loop alive so the runner does not cancel the test.
    const keepAlive = setInterval(() => undefined, 1000);
    t.after(() => clearInterval(keepAlive));
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
    const outcomes = await Promise.all([
      writer.submit(1).then((o) => (events.push('settled'), o)),
      writer.submit(2).then((o) => (events.push('settled'), o)),
    ]);
    assert.deepEqual(outcomes, ['committed', 'committed']);
    assert.deepEqual(calls, [
      [1, 2],
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    assert.deepEqual(errors, [
      [2, 1],
      [2, 2],
      [2, 3],
    ]);
    assert.deepEqual(events, ['write-succeeded', 'settled', 'settled']);
  });

  it('holds items unsettled while transient errors continue', async (t) => {
    const keepAlive = setInterval(() => undefined, 1000);
    t.after(() => clearInterval(keepAlive));
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
    assert.equal(p.settled(), false, 'never rejected or committed while the database is down');
    failing = false;
    await waitFor(() => p.settled(), 1000, 'commit after recovery');
    assert.equal(p.value(), 'committed');
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
    assert.deepEqual(outcomes, ['committed', 'committed', 'rejected', 'committed', 'committed']);
    assert.deepEqual([...committed].sort(), ['a', 'b', 'c', 'd'], 'good rows written exactly once');
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0][0], 'BAD');
    assert.ok(rejected[0][1] instanceof DataError, 'onRejected receives the error');
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
    assert.deepEqual(outcomes, ['rejected', 'committed', 'committed', 'rejected']);
    assert.deepEqual(committed.sort((x, y) => x - y), [2, 3]);
    assert.deepEqual(rejected.sort((x, y) => x - y), [-4, -1]);
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
    assert.equal(await writer.submit(1), 'rejected' satisfies WriteOutcome);
    assert.equal(calls, 1);
  });
});

describe('BatchWriter regressions', { timeout: 3000 }, () => {
  it(
    'regression: a partial batch that aged out while every slot was busy is written as soon as a slot frees',
    async () => {
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
      assert.ok(lag < 15, `overdue row 'b' waited ${lag} ms after a slot freed (another maxWaitMs)`);
    },
  );

  it(
    'regression: a throwing onCommit hook does not make a committed batch be written again',
    async (t) => {
      const keepAlive = setInterval(() => undefined, 1000);
      t.after(() => clearInterval(keepAlive));
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
      assert.equal(await writer.submit('x'), 'committed');
      assert.equal(writes, 1, 'a committed batch was written twice');
    },
  );
});

describe('BatchWriter concurrency', { timeout: 3000 }, () => {
  it('never runs more than `concurrency` write() calls at once and starts the next batch when one finishes', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 1, maxBufferedRows: 100, concurrency: 2 }));
    const all = [1, 2, 3, 4, 5].map((n) => writer.submit(n));
    assert.equal(w.calls.length, 2, 'two batches started');
    await delay(30); // past maxWaitMs: still only two in flight
    assert.equal(w.calls.length, 2);
    assert.equal(w.inFlight, 2);
    w.resolve(1);
    await waitFor(() => w.calls.length === 3, 1000, 'third batch');
    assert.equal(w.inFlight, 2);
    assert.deepEqual(w.calls[2].items, [3]);
    w.resolve(0);
    w.resolve(2);
    await waitFor(() => w.calls.length === 5, 1000, 'remaining batches');
    w.resolve(3);
    w.resolve(4);
    assert.deepEqual(await Promise.all(all), ['committed', 'committed', 'committed', 'committed', 'committed']);
    assert.equal(w.maxInFlight, 2);
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
    assert.ok(outcomes.every((o) => o === 'committed'));
    assert.equal(written, 120);
    assert.ok(maxInFlight <= 3, `max in flight ${maxInFlight}`);
    assert.ok(maxInFlight >= 2, `parallelism was used (max in flight ${maxInFlight})`);
  });
});

describe('BatchWriter close()', { timeout: 3000 }, () => {
  it('flushes queued partial batches at once and resolves after they are written', async () => {
    const w = new ControlledWrite<number>();
    const writer = new BatchWriter<number>(options(w.write, { maxBatchRows: 10, maxWaitMs: 200 }));
    const items = [writer.submit(1), writer.submit(2), writer.submit(3)];
    const closed = track(writer.close());
    assert.equal(w.calls.length, 1, 'close() does not wait for maxWaitMs');
    assert.deepEqual(w.calls[0].items, [1, 2, 3]);
    await delay(5);
    assert.equal(closed.settled(), false, 'close() waits for the write');
    w.resolve(0);
    assert.deepEqual(await Promise.all(items), ['committed', 'committed', 'committed']);
    await waitFor(() => closed.settled());
    assert.equal(closed.error(), undefined);
  });

  it('also writes waiting submitters and resolves only when everything is written', async () => {
    const w = new ControlledWrite<string>();
    const writer = new BatchWriter<string>(
      options(w.write, { maxBatchRows: 2, maxBufferedRows: 2, concurrency: 1, admissionTimeoutMs: 30 }),
    );
    const all = ['a', 'b', 'c', 'd', 'e'].map((s) => track(writer.submit(s)));
    assert.equal(writer.waiting, 3);
    const closed = track(writer.close());
    assert.equal(writer.waiting, 0, 'waiters taken in by close()');
    await delay(50); // beyond admissionTimeoutMs: taken-in waiters must not time out
    assert.ok(all.every((p) => !p.settled()), 'nothing settled before the first write resolves');

    w.resolve(0);
    await waitFor(() => w.calls.length === 2, 1000, 'second batch');
    assert.equal(closed.settled(), false);
    w.resolve(1);
    await waitFor(() => w.calls.length === 3, 1000, 'last partial batch');
    assert.equal(closed.settled(), false, 'close() still waiting for the last batch');
    w.resolve(2);
    await waitFor(() => closed.settled(), 1000, 'close');
    assert.deepEqual(
      w.calls.map((c) => c.items),
      [['a', 'b'], ['c', 'd'], ['e']],
    );
    assert.deepEqual(
      all.map((p) => p.value()),
      ['committed', 'committed', 'committed', 'committed', 'committed'],
    );
    assert.equal(writer.buffered, 0);
  });

  it('resolves at once when nothing is held', async () => {
    const writer = new BatchWriter<number>(options(async () => undefined));
    await writer.close();
    assert.equal(writer.buffered, 0);
  });

  it('rejects submit() after close() with WriterClosedError', async () => {
    let calls = 0;
    const writer = new BatchWriter<number>(
      options(async () => {
        calls++;
      }),
    );
    await writer.close();
    await assert.rejects(writer.submit(1), (err: unknown) => err instanceof WriterClosedError && err.name === 'WriterClosedError');
    await delay(30);
    assert.equal(calls, 0);
  });
});
