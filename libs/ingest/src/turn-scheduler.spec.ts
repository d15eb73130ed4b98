import { describe, expect, it } from '@jest/globals';
import { collectMicrotaskThrows } from '#testing/microtask-throws.js';
import { BatchWriter } from './batch-writer.js';
import { TurnScheduler, type TurnSchedulerOptions } from './turn-scheduler.js';

/** A scheduler whose turns run only when the test says so, with a clock the test moves. */
function manual(opts: Partial<TurnSchedulerOptions> = {}) {
  const queued: (() => void)[] = [];
  const clock = { ms: 0 };
  const scheduler = new TurnScheduler({
    maxUnitsPerTurn: 10,
    maxTurnMs: 1000,
    slice: 4,
    now: () => clock.ms,
    defer: (turn) => queued.push(turn),
    ...opts,
  });
  /** Runs one turn; false when none was scheduled. */
  const turn = (): boolean => {
    const next = queued.shift();
    if (!next) return false;
    next();
    return true;
  };
  return { scheduler, queued, clock, turn };
}

/** A lane that records which lane ran each unit, and in which turn. */
function recorder() {
  const log: { lane: string; turn: number; item: number }[] = [];
  let turn = 0;
  return {
    log,
    nextTurn: () => ++turn,
    handler: (lane: string) => (item: number) => log.push({ lane, turn, item }),
    perTurn: (lane: string) => {
      const counts = new Map<number, number>();
      for (const e of log) if (e.lane === lane) counts.set(e.turn, (counts.get(e.turn) ?? 0) + 1);
      return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
    },
  };
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('TurnScheduler', () => {
  it('runs at most maxUnitsPerTurn units per turn, in order, and defers the rest to later turns', () => {
    const { scheduler, queued, turn } = manual({ maxUnitsPerTurn: 10 });
    const rec = recorder();
    const lane = scheduler.lane('a', rec.handler('a'));
    for (const i of range(25)) lane.push(i);
    expect(rec.log).toHaveLength(0); // nothing runs inside push
    expect(queued).toHaveLength(1); // one turn scheduled, however many pushes
    while (rec.nextTurn() && turn());
    expect(rec.perTurn('a')).toStrictEqual([10, 10, 5]);
    expect(rec.log.map((e) => e.item)).toStrictEqual(range(25));
    expect(scheduler.pending).toBe(0);
    expect(queued).toHaveLength(0); // nothing left, no further turn
  });

  it('shares one turn fairly between lanes, a slice at a time', () => {
    const { scheduler, turn } = manual({ maxUnitsPerTurn: 16, slice: 4 });
    const rec = recorder();
    const validate = scheduler.lane('validate', rec.handler('validate'));
    const release = scheduler.lane('release', rec.handler('release'));
    validate.pushAll(range(40));
    release.pushAll(range(40));
    rec.nextTurn();
    turn();
    // 16 units in all, alternating slices of 4.
    expect(rec.log.map((e) => e.lane)).toStrictEqual(
      [...Array<string[]>(2).fill([...Array<string>(4).fill('validate'), ...Array<string>(4).fill('release')])].flat(),
    );
    while (rec.nextTurn() && turn());
    expect(rec.perTurn('validate')).toStrictEqual([8, 8, 8, 8, 8]);
    expect(rec.perTurn('release')).toStrictEqual([8, 8, 8, 8, 8]);
  });

  it('gives a lane with little work its slice while another lane has a lot, and hands the spare budget on', () => {
    const { scheduler, turn } = manual({ maxUnitsPerTurn: 20, slice: 4 });
    const rec = recorder();
    const big = scheduler.lane('big', rec.handler('big'));
    const small = scheduler.lane('small', rec.handler('small'));
    big.pushAll(range(100));
    small.pushAll(range(2));
    rec.nextTurn();
    turn();
    expect(rec.perTurn('small')).toStrictEqual([2]);
    expect(rec.perTurn('big')).toStrictEqual([18]);
  });

  it('starves no lane: one whose handler keeps refilling it does not keep another from running every turn', () => {
    const { scheduler, turn } = manual({ maxUnitsPerTurn: 8, slice: 4 });
    const rec = recorder();
    const busy = scheduler.lane<number>('busy', (i) => {
      rec.handler('busy')(i);
      busy.push(i + 1); // never runs dry
    });
    const other = scheduler.lane('other', rec.handler('other'));
    busy.pushAll(range(4));
    other.pushAll(range(12));
    for (let t = 0; t < 3; t++) {
      rec.nextTurn();
      turn();
    }
    expect(rec.perTurn('other')).toStrictEqual([4, 4, 4]);
    expect(rec.perTurn('busy').every((n) => n > 0)).toBe(true);
  });

  it('starts each turn after the lane served last, so a budget smaller than a slice still rotates', () => {
    const { scheduler, turn } = manual({ maxUnitsPerTurn: 3, slice: 32 });
    const rec = recorder();
    const lanes = ['a', 'b', 'c'].map((name) => scheduler.lane(name, rec.handler(name)));
    for (const lane of lanes) lane.pushAll(range(6));
    const served: string[] = [];
    for (let t = 0; t < 6; t++) {
      rec.nextTurn();
      turn();
      served.push([...new Set(rec.log.filter((e) => e.turn === t + 1).map((e) => e.lane))].join(''));
    }
    expect(served).toStrictEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(scheduler.pending).toBe(0);
  });

  it('stops a turn once maxTurnMs has passed, checked after each slice, even under the unit budget', () => {
    const { scheduler, clock, turn } = manual({ maxUnitsPerTurn: 1000, slice: 2, maxTurnMs: 5 });
    const rec = recorder();
    const lane = scheduler.lane<number>('slow', (i) => {
      clock.ms += 1; // each unit takes 1 ms
      rec.handler('slow')(i);
    });
    lane.pushAll(range(20));
    while (rec.nextTurn() && turn());
    // 2 units a slice, the clock checked after each: 6 units (6 ms) a turn.
    expect(rec.perTurn('slow')).toStrictEqual([6, 6, 6, 2]);
  });

  it("calls a group's callback once its last item has run, not before; at once for an empty group", () => {
    const { scheduler, turn } = manual({ maxUnitsPerTurn: 4, slice: 4 });
    const ran: number[] = [];
    const lane = scheduler.lane<number>('release', (i) => ran.push(i));
    const done: string[] = [];
    lane.pushAll([1, 2, 3], () => done.push(`first after ${ran.length}`));
    lane.pushAll([4, 5, 6], () => done.push(`second after ${ran.length}`));
    lane.pushAll([], () => done.push('empty'));
    expect(done).toStrictEqual(['empty']);
    turn();
    expect(done).toStrictEqual(['empty', 'first after 3']);
    turn();
    expect(done).toStrictEqual(['empty', 'first after 3', 'second after 6']);
  });

  it('keeps running the other units when one throws, and rethrows that error on its own', async () => {
    const { scheduler, turn } = manual();
    const ran: number[] = [];
    const rethrown = await collectMicrotaskThrows(() => {
      const lane = scheduler.lane<number>('a', (i) => {
        if (i === 2) throw new Error('unit bug');
        ran.push(i);
      });
      lane.pushAll([1, 2, 3]);
      turn();
    });
    expect(ran).toStrictEqual([1, 3]);
    expect(rethrown).toHaveLength(1);
    expect((rethrown[0] as Error).message).toBe('unit bug');
  });

  it('drains for shutdown: idle() resolves once every lane is empty, including work queued while draining', async () => {
    const scheduler = new TurnScheduler({ maxUnitsPerTurn: 7, maxTurnMs: 1000 });
    const ran: string[] = [];
    const second = scheduler.lane<number>('second', (i) => ran.push(`s${i}`));
    const first = scheduler.lane<number>('first', (i) => {
      ran.push(`f${i}`);
      // Validation hands on to the release lane, as ingest does.
      second.push(i);
    });
    first.pushAll(range(30));
    await scheduler.idle();
    expect(scheduler.pending).toBe(0);
    expect(ran.filter((r) => r.startsWith('f'))).toHaveLength(30);
    expect(ran.filter((r) => r.startsWith('s'))).toHaveLength(30);
    await expect(scheduler.idle()).resolves.toBeUndefined(); // at once when empty
  });

  it('yields to the event loop between turns (a timer due meanwhile runs before the backlog is done)', async () => {
    const scheduler = new TurnScheduler({ maxUnitsPerTurn: 50, maxTurnMs: 1000 });
    let ran = 0;
    const lane = scheduler.lane<number>('a', () => ran++);
    lane.pushAll(range(5000));
    const ranWhenTimerFired = await new Promise<number>((resolve) => setTimeout(() => resolve(ran), 0));
    expect(ranWhenTimerFired).toBeLessThan(5000);
    await scheduler.idle();
    expect(ran).toBe(5000);
  });
});

describe('BatchWriter with a shared TurnScheduler', () => {
  it('releases two batches that commit together under one budget, and counts their rows buffered until released', async () => {
    const queued: (() => void)[] = [];
    const scheduler = new TurnScheduler({ maxUnitsPerTurn: 100, maxTurnMs: 1000, slice: 10, defer: (turn) => queued.push(turn) });
    const validated = scheduler.lane<number>('validate', () => undefined);
    const writer = new BatchWriter<number>({
      name: 'test',
      maxBatchRows: 150,
      maxWaitMs: 10_000,
      maxBufferedRows: 10_000,
      admissionTimeoutMs: 10_000,
      concurrency: 2,
      retryBaseMs: 1,
      retryMaxMs: 1,
      isDataError: () => false,
      scheduler,
      write: () => Promise.resolve(),
    });
    let settledInTurn = 0;
    const perTurn: number[] = [];
    for (const i of range(300)) writer.submitWith(i, () => settledInTurn++);
    validated.pushAll(range(50));
    // Both batches commit (their writes resolve) before any release turn runs.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(writer.buffered).toBe(300);
    while (queued.length > 0) {
      settledInTurn = 0;
      queued.shift()?.();
      perTurn.push(settledInTurn);
    }
    expect(perTurn.every((n) => n <= 100)).toBe(true);
    expect(perTurn.reduce((a, b) => a + b, 0)).toBe(300);
    // The validation lane got its share in the first turns, not after all the releases.
    expect(perTurn[0]).toBeLessThan(100);
    await writer.idle();
    expect(writer.buffered).toBe(0);
    await writer.close();
  });
});
