import { type Lane, TurnScheduler } from './turn-scheduler.js';

/** Outcome of one submitted item once its batch is settled. */
export type WriteOutcome = 'committed' | 'rejected';

export class AckTimeoutError extends Error {
  override readonly name = 'AckTimeoutError';
}

export class WriterClosedError extends Error {
  override readonly name = 'WriterClosedError';
}

export interface BatchWriterOptions<T> {
  name: string;
  maxBatchRows: number;
  maxWaitMs: number;
  /** Items held in memory (queued + in flight). Beyond it submit() waits and tryOffer() drops. */
  maxBufferedRows: number;
  /** How long submit() may wait for buffer space before failing with AckTimeoutError. */
  admissionTimeoutMs: number;
  /** Parallel batches in flight; keep below the connection pool size. */
  concurrency: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Writes one batch in one transaction. Throwing retries it (transient) or bisects it (data error). */
  write: (items: T[]) => Promise<void>;
  /** True for errors caused by the rows themselves (never succeed on retry). */
  isDataError: (err: unknown) => boolean;
  /**
   * Runs the release of committed items (their callbacks: for heartbeats, the PUBACK) under a
   * per-turn budget shared with other work, e.g. validation. Without one the writer has its own,
   * RELEASE_PER_TURN per turn.
   */
  scheduler?: TurnScheduler;
  hooks?: {
    onCommit?: (rows: number, seconds: number) => void;
    onError?: (err: unknown, rows: number, attempt: number) => void;
    onRejected?: (item: T, err: unknown) => void;
    onDepth?: (buffered: number, waiting: number) => void;
  };
}

/**
 * Settles one submitted item: an error (AckTimeoutError, WriterClosedError) or its outcome. The
 * item is passed back, so one function can serve every item (no closure per item held until the commit).
 */
export type WriteCallback<T> = (err: Error | null, outcome: WriteOutcome | null, item: T) => void;

interface Pending<T> {
  item: T;
  done: WriteCallback<T>;
}

interface Waiter<T> extends Pending<T> {
  timer: NodeJS.Timeout;
}

const ignore = (): void => undefined;

/** Calls an item's callback; one that throws must not stop the others from being settled. */
function settle<T>(p: Pending<T>, err: Error | null, outcome: WriteOutcome | null): void {
  try {
    p.done(err, outcome, p.item);
  } catch (thrown) {
    // Surfaces as an uncaught exception, as a throwing promise handler would as an unhandled rejection.
    queueMicrotask(() => {
      throw thrown;
    });
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * Items settled per turn of the event loop after a commit, for a writer without a shared
 * scheduler. Settling one releases its PUBACK (a socket write and the next read); a whole 2000-row
 * batch at once would hold the loop for tens of ms, delaying keep-alives and CONNACKs.
 */
const RELEASE_PER_TURN = 256;

/**
 * Bounded write-behind buffer: groups items into batches by size or age, writes each batch once
 * and settles every item's promise when its batch commits. Holding an item's promise holds the
 * MQTT PUBACK, so acknowledged means committed. Memory is bounded: at most maxBufferedRows items
 * are queued or in flight; further submitters wait (their sockets are not read meanwhile, see
 * aedes' per-client packet batching) and give up after admissionTimeoutMs.
 * A failing batch is retried with capped exponential backoff until the database is back; a batch
 * failing on bad data is bisected so one bad row cannot block the rest.
 */
export class BatchWriter<T> {
  private queue: Pending<T>[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private inFlightRows = 0;
  private inFlightBatches = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly idleResolvers: (() => void)[] = [];
  /** Committed items waiting for their release; they count as in flight until released. */
  private readonly releases: Lane<Pending<T>>;

  constructor(private readonly opts: BatchWriterOptions<T>) {
    const scheduler = opts.scheduler ?? new TurnScheduler({ maxUnitsPerTurn: RELEASE_PER_TURN, maxTurnMs: Number.POSITIVE_INFINITY });
    this.releases = scheduler.lane<Pending<T>>(`${opts.name}:release`, this.releaseCommitted);
  }

  /** A written item leaves the buffer as its callback is called (so the callback sees the room). */
  private readonly releaseCommitted = (p: Pending<T>): void => {
    this.inFlightRows--;
    settle(p, null, 'committed');
  };

  get buffered(): number {
    return this.queue.length + this.inFlightRows;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves when the item is committed (or rejected as bad data); waits for space when full. */
  submit(item: T): Promise<WriteOutcome> {
    return new Promise<WriteOutcome>((resolve, reject) => {
      this.submitWith(item, (err, outcome) => (err || !outcome ? reject(err ?? new Error('no outcome')) : resolve(outcome)));
    });
  }

  /**
   * submit() with a callback, for the hot path: no promise per item. `done` is called exactly once,
   * never synchronously from inside this call except with WriterClosedError.
   */
  submitWith(item: T, done: WriteCallback<T>): void {
    if (this.closed) return done(new WriterClosedError(`${this.opts.name} writer is closed`), null, item);
    if (this.buffered < this.opts.maxBufferedRows && this.waiters.length === 0) {
      this.enqueue({ item, done });
      return;
    }
    const waiter: Waiter<T> = {
      item,
      done,
      timer: setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        this.report();
        settle(waiter, new AckTimeoutError(`${this.opts.name}: no buffer space within ${this.opts.admissionTimeoutMs} ms`), null);
      }, this.opts.admissionTimeoutMs),
    };
    this.waiters.push(waiter);
    this.report();
  }

  /** Best effort: queues the item if there is room, otherwise returns false at once. */
  tryOffer(item: T): boolean {
    if (this.closed || this.buffered >= this.opts.maxBufferedRows) return false;
    this.enqueue({ item, done: ignore });
    return true;
  }

  /** Stops accepting items and writes everything held. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      this.queue.push(w);
    }
    this.drain(true);
    await this.idle();
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.buffered === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  private enqueue(p: Pending<T>): void {
    this.queue.push(p);
    // Depth is reported when batches start and end and when waiters come and go, not per item.
    if (this.queue.length >= this.opts.maxBatchRows) this.drain(false);
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.drain(true);
      }, this.opts.maxWaitMs);
    }
  }

  /** Starts as many batches as concurrency allows; partial batches only when `partial`. */
  private drain(partial: boolean): void {
    while (this.inFlightBatches < this.opts.concurrency && this.queue.length > 0) {
      if (!partial && this.queue.length < this.opts.maxBatchRows) break;
      const batch = this.queue.splice(0, this.opts.maxBatchRows);
      void this.run(batch);
    }
    if (this.queue.length > 0 && !this.timer && this.inFlightBatches < this.opts.concurrency) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.drain(true);
      }, this.opts.maxWaitMs);
    }
  }

  private async run(batch: Pending<T>[]): Promise<void> {
    this.inFlightBatches++;
    this.inFlightRows += batch.length;
    this.report();
    try {
      await this.writeWithRetry(batch);
    } finally {
      // Its rows left inFlightRows one by one as they were settled.
      this.inFlightBatches--;
      this.admitWaiters();
      this.report();
      // Keep the pipeline full: whatever queued while this batch was in flight goes next, so a row
      // never waits for a newer row's timer.
      if (this.queue.length > 0) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.drain(true);
      }
      if (this.buffered === 0 && this.waiters.length === 0) for (const r of this.idleResolvers.splice(0)) r();
    }
  }

  private async writeWithRetry(batch: Pending<T>[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const started = process.hrtime.bigint();
      let failure: { err: unknown } | null = null;
      try {
        await this.opts.write(batch.map((p) => p.item));
      } catch (err) {
        failure = { err };
      }
      if (!failure) {
        // Hooks run outside the write's try: a throwing hook must not re-write a committed batch.
        this.safeHook(() => this.opts.hooks?.onCommit?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9));
        // Released a budget at a time, from the check phase; the rows stay counted in flight (so
        // admission stays bounded) until the last is released.
        await new Promise<void>((resolve) => this.releases.pushAll(batch, resolve));
        return;
      }
      const { err } = failure;
      this.safeHook(() => this.opts.hooks?.onError?.(err, batch.length, attempt));
      if (this.opts.isDataError(err)) {
        if (batch.length === 1) {
          this.safeHook(() => this.opts.hooks?.onRejected?.(batch[0].item, err));
          this.inFlightRows--;
          settle(batch[0], null, 'rejected');
          return;
        }
        const mid = Math.ceil(batch.length / 2);
        await this.writeWithRetry(batch.slice(0, mid));
        await this.writeWithRetry(batch.slice(mid));
        return;
      }
      const backoff = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** Math.min(attempt - 1, 16));
      await sleep(backoff / 2 + Math.random() * (backoff / 2));
    }
  }

  private safeHook(fn: () => void): void {
    try {
      fn();
    } catch {
      // Metrics and logging must never affect delivery.
    }
  }

  private admitWaiters(): void {
    while (this.waiters.length > 0 && this.buffered < this.opts.maxBufferedRows) {
      const w = this.waiters.shift();
      if (!w) break;
      clearTimeout(w.timer);
      this.queue.push(w);
    }
  }

  private report(): void {
    this.opts.hooks?.onDepth?.(this.buffered, this.waiters.length);
  }
}
