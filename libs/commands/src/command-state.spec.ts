import { describe, expect, it } from '@jest/globals';
import { applyReport, CommandState, rankOf, toReportedState, type LedgerPosition } from './command-state.js';

const at = (state: CommandState, maxRank = rankOf(state)): LedgerPosition => ({ state, maxRank });

describe('command state machine', () => {
  it('follows the OTA happy path forward', () => {
    let pos: LedgerPosition = at(CommandState.Sent);
    for (const s of ['accepted', 'downloading', 'downloading', 'downloaded', 'verified', 'installing', 'succeeded'] as const) {
      const out = applyReport(pos, s);
      expect(out.applied).toBe(true);
      if (out.applied) pos = { state: out.state, maxRank: out.maxRank };
    }
    expect(pos.state).toBe('succeeded');
  });

  it('refuses to move back: a late downloading after installing is not applied', () => {
    expect(applyReport(at(CommandState.Installing), 'downloading')).toEqual({ applied: false, why: 'backwards' });
    expect(applyReport(at(CommandState.Downloaded), 'accepted')).toEqual({ applied: false, why: 'backwards' });
  });

  it('keeps the rank reached while deferred', () => {
    const deferred = applyReport(at(CommandState.Downloaded), 'deferred');
    expect(deferred).toEqual({ applied: true, state: 'deferred', maxRank: rankOf(CommandState.Downloaded) });
    if (!deferred.applied) return;
    const pos = { state: deferred.state, maxRank: deferred.maxRank };
    expect(applyReport(pos, 'downloading').applied).toBe(false);
    expect(applyReport(pos, 'verified')).toMatchObject({ applied: true, state: 'verified' });
  });

  it('does not defer once installing', () => {
    expect(applyReport(at(CommandState.Installing), 'deferred').applied).toBe(false);
  });

  it('never moves a final command, except rolled_back after succeeded or failed', () => {
    for (const s of [CommandState.Cancelled, CommandState.Expired, CommandState.Rejected]) {
      expect(applyReport(at(s), 'succeeded')).toEqual({ applied: false, why: 'final' });
      expect(applyReport(at(s), 'rolled_back')).toEqual({ applied: false, why: 'final' });
    }
    expect(applyReport(at(CommandState.Succeeded), 'failed')).toEqual({ applied: false, why: 'final' });
    expect(applyReport(at(CommandState.Succeeded), 'rolled_back')).toMatchObject({ applied: true, state: 'rolled_back' });
    expect(applyReport(at(CommandState.Failed), 'rolled_back')).toMatchObject({ applied: true, state: 'rolled_back' });
  });

  it('reads the v1 statuses received and in_progress as accepted and installing', () => {
    expect(toReportedState('received')).toBe('accepted');
    expect(toReportedState('in_progress')).toBe('installing');
    expect(toReportedState('rolled_back')).toBe('rolled_back');
  });

  it('allows a rejection or failure from any non-final state', () => {
    expect(applyReport(at(CommandState.Queued), 'rejected')).toMatchObject({ applied: true, state: 'rejected' });
    expect(applyReport(at(CommandState.Downloading), 'failed')).toMatchObject({ applied: true, state: 'failed' });
  });
});
