import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '#config';
import { MetricsService } from '#observability';
import type { HeartbeatEvaluationInput, HeartbeatSample, RuleMemory, RuleOutcome, TerminalFacts } from '../rules/rule.types.js';
import type { AlertEngineRepository, TerminalRow } from './alert-engine.repository.js';
import { AlertEvaluatorService } from './alert-evaluator.service.js';
import type { AlertSegment } from './alert-ledger.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { ManualClock } from './clock.js';

const T0 = Date.parse('2026-12-01T02:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000);

function sample(minute: number, batteryPct: number): HeartbeatSample {
  return {
    time: at(minute),
    receivedAt: at(minute),
    model: 'EP-T1',
    firmwareVersion: '3.2.10',
    appVersion: '5.0.1',
    batteryPct,
    charging: false,
    rat: 'LTE',
    rsrp: -90,
    csq: 20,
    sinr: 10,
    cellId: null,
    iccid: '89860000000000000001',
    planStatus: 'active',
    planExpiresOn: '2027-06-30',
    planAutoRenew: true,
    renewalAt: null,
    renewalResult: null,
    renewalReason: null,
    dataUsedMb: 1,
    dataAllowanceMb: null,
    lat: null,
    lon: null,
    uptimeS: 100,
    tx: null,
  };
}

const facts: TerminalFacts = {
  sn: 'SN0001',
  model: 'EP-T1',
  tid: 'TID00001',
  mid: 'M1',
  providerId: 'p-root',
  registeredLat: null,
  registeredLon: null,
  online: true,
  presenceChangedAt: null,
  lastReceivedAt: null,
  latest: null,
};

/** Stub rules: battery below 20 holds; counts low heartbeats in memory; records what it was given. */
class StubRules extends AlertRules {
  readonly seen: { time: number; previous: number | null; open: string[]; streak: unknown }[] = [];
  override evaluateHeartbeat(input: HeartbeatEvaluationInput): RuleOutcome[] {
    const streak = input.memory.get('battery_low')?.streak ?? 0;
    this.seen.push({ time: input.sample.time.getTime(), previous: input.previous?.time.getTime() ?? null, open: [...input.open.keys()], streak });
    const low = input.sample.batteryPct < 20;
    return [
      { rule: 'battery_low', active: low, severity: 'warning', details: { pct: input.sample.batteryPct }, memory: low ? { streak: Number(streak) + 1 } : null },
    ];
  }
}

function fakeRepo(terminal: TerminalRow, beats: HeartbeatSample[], stored: { sn: string; rule: string; memory: RuleMemory }[] = []) {
  const writes: { existing: AlertSegment[]; raised: AlertSegment[] }[] = [];
  const asked: { sn: string; after: Date | null; previous?: boolean }[][] = [];
  const bookkeeping: { memory: unknown[]; cursors: { sn: string; at: Date }[]; requeue: { sn: string }[] }[] = [];
  let queued = true;
  const repo = {
    dataSource: { transaction: <T>(work: (em: object) => Promise<T>) => work({}) },
    claim: async () => {
      if (!queued) return [];
      queued = false;
      return [{ sn: terminal.facts.sn, enqueuedAt: at(0) }];
    },
    terminalsBySn: async () => [terminal],
    heartbeats: async (_em: object, cursors: { sn: string; after: Date | null; previous?: boolean }[]) => {
      asked.push(cursors);
      return new Map([[terminal.facts.sn, [...beats].sort((a, b) => a.time.getTime() - b.time.getTime())]]);
    },
    memory: async () => stored,
    openAlerts: async () => [],
    settings: async () => new Map(),
    policies: async () => new Map(),
    writeAlerts: async (_em: object, changes: { existing: AlertSegment[]; raised: AlertSegment[] }) => {
      writes.push(changes);
      return [];
    },
    bookkeeping: async (_em: object, _at: Date, memory: unknown[], cursors: { sn: string; at: Date }[], requeue: { sn: string }[]) => {
      bookkeeping.push({ memory, cursors, requeue });
    },
    queueDepth: async () => 0,
  };
  return { repo: repo as unknown as AlertEngineRepository, writes, bookkeeping, asked };
}

function evaluator(repo: AlertEngineRepository, rules: AlertRules, env: Record<string, string> = {}) {
  return new AlertEvaluatorService(loadConfig({}, env), repo, rules, new ManualClock(at(30)), new AlertMetrics(new MetricsService()));
}

describe('AlertEvaluatorService (stub rules and repository)', () => {
  it('evaluates a terminal’s heartbeats in terminal-time order, threading previous, open alerts and memory', async () => {
    const rules = new StubRules();
    const terminal: TerminalRow = { facts, providerPath: '/p-root/', evaluatedThrough: at(1) };
    // The heartbeat at the cursor is the first one's `previous`, not evaluated again.
    const { repo, writes, bookkeeping } = fakeRepo(terminal, [sample(4, 60), sample(2, 10), sample(1, 50), sample(3, 12)]);
    const result = await evaluator(repo, rules).runOnce();
    expect(result).toMatchObject({ claimed: 1, evaluations: 3, requeued: 0 });
    expect(rules.seen).toStrictEqual([
      { time: at(2).getTime(), previous: at(1).getTime(), open: [], streak: 0 },
      { time: at(3).getTime(), previous: at(2).getTime(), open: ['battery_low'], streak: 1 },
      { time: at(4).getTime(), previous: at(3).getTime(), open: ['battery_low'], streak: 2 },
    ]);
    // Raised and resolved within the batch: one new alert row, resolved, with both events.
    expect(writes[0].raised).toHaveLength(1);
    expect(writes[0].raised[0]).toMatchObject({
      state: 'resolved',
      occurrences: 2,
      details: { pct: 12, sn: 'SN0001', tid: 'TID00001', mid: 'M1', model: 'EP-T1' },
    });
    expect(writes[0].raised[0].events.map((e) => e.kind)).toStrictEqual(['raised', 'resolved']);
    expect(bookkeeping[0].cursors).toStrictEqual([{ sn: 'SN0001', at: at(4) }]);
    expect(bookkeeping[0].memory).toStrictEqual([{ sn: 'SN0001', rule: 'battery_low', memory: null }]);
  });

  it('asks for the heartbeat at the cursor only while the rules may read it as previous (no ICCID remembered)', async () => {
    const terminal: TerminalRow = { facts, providerPath: '/p-root/', evaluatedThrough: at(1) };
    const without = fakeRepo(terminal, [sample(1, 50), sample(2, 50)]);
    await evaluator(without.repo, new StubRules()).runOnce();
    expect(without.asked).toStrictEqual([[{ sn: 'SN0001', after: at(1), previous: true }]]);

    // sim_changed remembers the ICCID: the cursor's heartbeat is not loaded, and the first one's previous is null.
    const rules = new StubRules();
    const remembered = fakeRepo(terminal, [sample(2, 50), sample(3, 50)], [{ sn: 'SN0001', rule: 'sim_changed', memory: { iccid: '89860000000000000001' } }]);
    const result = await evaluator(remembered.repo, rules).runOnce();
    expect(remembered.asked).toStrictEqual([[{ sn: 'SN0001', after: at(1), previous: false }]]);
    expect(result.evaluations).toBe(2);
    expect(rules.seen.map((s) => s.previous)).toStrictEqual([null, at(2).getTime()]);
  });

  it('evaluates at most ALERTS_EVAL_MAX_HEARTBEATS per terminal and queues the terminal again', async () => {
    const rules = new StubRules();
    const terminal: TerminalRow = { facts, providerPath: '/p-root/', evaluatedThrough: null };
    const { repo, bookkeeping } = fakeRepo(
      terminal,
      Array.from({ length: 5 }, (_, i) => sample(i + 1, 50)),
    );
    const result = await evaluator(repo, rules, { ALERTS_EVAL_MAX_HEARTBEATS: '3' }).runOnce();
    expect(result).toMatchObject({ evaluations: 3, requeued: 1 });
    expect(rules.seen.map((s) => s.time)).toStrictEqual([at(1), at(2), at(3)].map((d) => d.getTime()));
    // The first heartbeat ever evaluated has no previous.
    expect(rules.seen[0].previous).toBeNull();
    expect(bookkeeping[0].cursors).toStrictEqual([{ sn: 'SN0001', at: at(3) }]);
    expect(bookkeeping[0].requeue).toStrictEqual([{ sn: 'SN0001', at: at(0) }]);
  });

  it('moves past a heartbeat on which the rules throw (logged and counted), so the terminal is not stuck', async () => {
    const rules = new StubRules();
    const throwing = Object.assign(Object.create(rules) as StubRules, {
      evaluateHeartbeat: (input: HeartbeatEvaluationInput) => {
        if (input.sample.time.getTime() === at(2).getTime()) throw new Error('boom');
        return rules.evaluateHeartbeat(input);
      },
    });
    const terminal: TerminalRow = { facts, providerPath: '/p-root/', evaluatedThrough: null };
    const { repo, bookkeeping } = fakeRepo(terminal, [sample(1, 50), sample(2, 50), sample(3, 50)]);
    const service = evaluator(repo, throwing);
    // Silence the expected error line.
    (service as unknown as { logger: { error: () => void } }).logger.error = () => undefined;
    const result = await service.runOnce();
    expect(result.evaluations).toBe(3);
    expect(bookkeeping[0].cursors).toStrictEqual([{ sn: 'SN0001', at: at(3) }]);
  });

  it('drain() does not end on a batch already under way that claimed before the caller’s heartbeat was queued', async () => {
    const terminal: TerminalRow = { facts, providerPath: '/p-root/', evaluatedThrough: null };
    const { repo } = fakeRepo(terminal, [sample(1, 50), sample(2, 50)]);
    const claimOnce = repo.claim.bind(repo);
    let releaseEarly: (rows: never[]) => void = () => undefined;
    let calls = 0;
    (repo as unknown as { claim: () => Promise<unknown> }).claim = () => {
      // The poll loop's batch: its claim ran before the heartbeat committed and finds nothing.
      if (calls++ === 0) return new Promise<never[]>((resolve) => (releaseEarly = resolve));
      return claimOnce({} as never, 500);
    };
    const service = evaluator(repo, new StubRules());
    const pollLoopBatch = service.runOnce();
    const drained = service.drain();
    releaseEarly([]);
    expect((await pollLoopBatch).claimed).toBe(0);
    expect(await drained).toBe(2);
  });
});
