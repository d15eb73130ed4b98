import { performance } from 'node:perf_hooks';

export interface TurnSchedulerOptions {
  /** Units of work (all lanes together) run in one turn at most. */
  maxUnitsPerTurn: number;
  /** A turn stops once it has run this long (checked after every slice), even under maxUnitsPerTurn. */
  maxTurnMs: number;
  /** Units one lane runs before the next lane with work gets its go. */
  slice?: number;
  /** Clock in ms; performance.now() unless a test supplies one. */
  now?: () => number;
  /** Runs the next turn; setImmediate (the check phase, after pending I/O) unless a test supplies one. */
  defer?: (turn: () => void) => void;
}

const DEFAULT_SLICE = 32;
/** A lane's queue drops the run entries before its head once this many accumulated (and over half). */
const COMPACT_AT = 4096;

/**
 * One turn's worth of work, shared fairly between lanes and then a yield to the event loop.
 *
 * The gateway's CPU-bound steps per heartbeat (validating it; releasing its PUBACK after the commit,
 * which is a socket write) each came in chunks of 256 per turn, but each queue and each committing
 * batch chunked on its own, so a validation chunk and two batches' releases could share one check
 * phase and hold the loop for tens of ms (timers, keep-alives, CONNACKs late). Here every such step
 * goes through one budget: at most maxUnitsPerTurn units or maxTurnMs per turn, lanes served in turn
 * a slice at a time, starting each turn after the lane served last, so none starves.
 *
 * Work is a queued item and the lane's one handler (no closure per unit: what is queued per
 * heartbeat is what every young-generation GC copies).
 */
export class TurnScheduler {
  private readonly lanes: Lane<never>[] = [];
  private readonly maxUnits: number;
  private readonly maxMs: number;
  private readonly slice: number;
  private readonly now: () => number;
  private readonly defer: (turn: () => void) => void;
  private scheduled = false;
  /** The lane served first in the next round. */
  private next = 0;
  private readonly idleResolvers: (() => void)[] = [];
  private turns = 0;

  constructor(opts: TurnSchedulerOptions) {
    this.maxUnits = Math.max(1, Math.floor(opts.maxUnitsPerTurn));
    this.maxMs = Math.max(0, opts.maxTurnMs);
    this.slice = Math.max(1, Math.floor(opts.slice ?? DEFAULT_SLICE));
    this.now = opts.now ?? (() => performance.now());
    this.defer = opts.defer ?? ((turn) => setImmediate(turn));
  }

  /** A queue of items that `run` handles, one unit each, under this scheduler's budget. */
  lane<T>(name: string, run: (item: T) => void): Lane<T> {
    const lane = new Lane<T>(name, run, () => this.schedule());
    this.lanes.push(lane as unknown as Lane<never>);
    return lane;
  }

  /** Items queued in every lane. */
  get pending(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.size;
    return n;
  }

  /** Turns run so far (for tests and diagnostics). */
  get turnCount(): number {
    return this.turns;
  }

  /** Resolves once every lane is empty (what was queued before and while waiting has run). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    this.turns++;
    const lanes = this.lanes;
    const started = this.now();
    let budget = this.maxUnits;
    // Lanes found empty in a row: once every lane was, there is nothing left.
    let empty = 0;
    while (budget > 0 && empty < lanes.length) {
      const lane = lanes[this.next];
      this.next = this.next + 1 === lanes.length ? 0 : this.next + 1;
      if (lane.size === 0) {
        empty++;
        continue;
      }
      empty = 0;
      budget -= lane.runSome(Math.min(this.slice, budget));
      if (this.now() - started >= this.maxMs) break;
    }
    if (this.pending > 0) {
      this.schedule();
      return;
    }
    for (const resolve of this.idleResolvers.splice(0)) resolve();
  };
}

/** A FIFO of work items for one TurnScheduler; see TurnScheduler.lane. */
export class Lane<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  /** Items run so far and pushed so far: a group's callback fires when `ran` reaches its end. */
  private ran = 0;
  private pushed = 0;
  private readonly groups: { end: number; done: () => void }[] = [];

  constructor(
    readonly name: string,
    private readonly run: (item: T) => void,
    private readonly wake: () => void,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    this.pushed++;
    this.wake();
  }

  /** Queues the items in order; `done` is called once the last of them has run (at once if none). */
  pushAll(items: readonly T[], done?: () => void): void {
    for (let i = 0; i < items.length; i++) this.items.push(items[i]);
    this.pushed += items.length;
    if (done) {
      if (items.length === 0) done();
      else this.groups.push({ end: this.pushed, done });
    }
    if (items.length > 0) this.wake();
  }

  /** Runs up to `max` items; returns how many ran. */
  runSome(max: number): number {
    const end = Math.min(this.head + max, this.items.length);
    const count = end - this.head;
    for (; this.head < end;) {
      const item = this.items[this.head] as T;
      // Released at once: an item is held only until it has run.
      this.items[this.head] = undefined;
      this.head++;
      this.ran++;
      try {
        this.run(item);
      } catch (err) {
        // One failing unit must not stop the others; it surfaces as an uncaught exception.
        queueMicrotask(() => {
          throw err;
        });
      }
      if (this.groups.length > 0 && this.groups[0].end === this.ran) this.finishGroup();
    }
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.items.length) {
      // Under steady load the lane may never run dry: drop the run head now and then.
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return count;
  }

  private finishGroup(): void {
    const group = this.groups.shift();
    if (!group) return;
    try {
      group.done();
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
