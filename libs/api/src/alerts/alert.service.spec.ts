import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DomainException } from '#contracts';
import type { AuditService } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode } from '../common/api-error.js';
import { encodeCursor } from '../common/pagination.js';
import { alertSummary } from '../fleet/fleet.service.js';
import type { ProviderService } from '../providers/provider.service.js';
import type { TerminalViewRepository } from '../terminals/terminal-view.repository.js';
import { alertListQuery } from './alert.dto.js';
import type { AlertRepository, AlertRow, TransitionResult } from './alert.repository.js';
import { ALERT_EXPORT_COLUMNS, ALERT_RESOLVED, alertCsvRows, AlertService, toAlertView } from './alert.service.js';

const PROVIDER = '00000000-0000-4000-8000-000000000002';
const SCOPE: Scope = { kind: 'subtree', providerId: PROVIDER, path: `/root/${PROVIDER}/` };
const CTX: RequestContext = {
  principal: { keyId: 'k1', name: 'acme admin', role: Role.ProviderAdmin, providerId: PROVIDER },
  scope: SCOPE,
  requestId: 'req-1',
};

function row(over: Partial<AlertRow> = {}): AlertRow {
  return {
    id: '7',
    sn: 'SN000001',
    providerId: PROVIDER,
    raisedProviderId: PROVIDER,
    rule: 'battery_low',
    severity: 'warning',
    state: 'open',
    details: { batteryPct: 12 },
    firstSeenAt: new Date('2026-11-30T08:00:00.000Z'),
    lastSeenAt: new Date('2026-11-30T08:05:00.000Z'),
    occurrences: 1,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    ...over,
  };
}

async function domainError(promise: Promise<unknown>, code: string): Promise<DomainException> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainException);
  expect((error as DomainException).code).toBe(code);
  return error as DomainException;
}

describe('AlertService', () => {
  let repo: {
    page: jest.Mock<AlertRepository['page']>;
    findById: jest.Mock<AlertRepository['findById']>;
    acknowledge: jest.Mock<AlertRepository['acknowledge']>;
    resolve: jest.Mock<AlertRepository['resolve']>;
    cursorFits: jest.Mock<AlertRepository['cursorFits']>;
  };
  let getProvider: jest.Mock<ProviderService['get']>;
  let findRecord: jest.Mock<TerminalViewRepository['findRecord']>;
  let record: jest.Mock<AuditService['record']>;
  let service: AlertService;

  beforeEach(() => {
    repo = {
      page: jest.fn<AlertRepository['page']>(async () => ({ rows: [row()], next: null })),
      findById: jest.fn<AlertRepository['findById']>(async () => null),
      acknowledge: jest.fn<AlertRepository['acknowledge']>(),
      resolve: jest.fn<AlertRepository['resolve']>(),
      cursorFits: jest.fn<AlertRepository['cursorFits']>(() => true),
    };
    getProvider = jest.fn<ProviderService['get']>(async () => {
      throw new DomainException(ApiErrorCode.NotFound, 'provider not found');
    });
    findRecord = jest.fn<TerminalViewRepository['findRecord']>(async () => null);
    record = jest.fn<AuditService['record']>(async () => undefined);
    service = new AlertService(
      repo as unknown as AlertRepository,
      { get: getProvider } as unknown as ProviderService,
      { findRecord } as unknown as TerminalViewRepository,
      { record } as unknown as AuditService,
    );
  });

  const query = (q: Record<string, string>) => alertListQuery.parse(q);

  describe('acknowledge', () => {
    it('audits a change once, with before and after, under the terminal\u2019s provider', async () => {
      const after = row({ state: 'acknowledged', acknowledgedBy: 'acme admin', acknowledgedAt: new Date('2026-12-01T10:00:00Z') });
      repo.acknowledge.mockResolvedValue({ outcome: 'changed', before: row(), after });
      const view = await service.acknowledge(CTX, '7', 'en');
      expect(repo.acknowledge).toHaveBeenCalledWith(SCOPE, '7', 'acme admin');
      expect(view).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'acme admin', acknowledgedAt: '2026-12-01T10:00:00.000Z' });
      expect(record).toHaveBeenCalledTimes(1);
      expect(record.mock.calls[0][1]).toMatchObject({
        action: 'alert.acknowledge',
        targetType: 'alert',
        targetId: '7',
        providerId: PROVIDER,
        before: { state: 'open', acknowledgedBy: null },
        after: { state: 'acknowledged', acknowledgedBy: 'acme admin' },
      });
    });

    it('repeating it is a no-op: 200 with the alert as it is, nothing audited', async () => {
      const current = row({ state: 'acknowledged', acknowledgedBy: 'someone else' });
      repo.acknowledge.mockResolvedValue({ outcome: 'unchanged', alert: current });
      expect((await service.acknowledge(CTX, '7', 'en')).acknowledgedBy).toBe('someone else');
      expect(record).not.toHaveBeenCalled();
    });

    it('a resolved alert is a 409 with the ALERT_RESOLVED detail code; nothing audited', async () => {
      repo.acknowledge.mockResolvedValue({ outcome: 'already-resolved', alert: row({ state: 'resolved', resolvedAt: new Date('2026-12-01T09:00:00Z') }) });
      const error = await domainError(service.acknowledge(CTX, '7', 'en'), ApiErrorCode.Conflict);
      expect(error.details).toStrictEqual([{ code: ALERT_RESOLVED, message: 'the alert is resolved', resolvedAt: '2026-12-01T09:00:00.000Z' }]);
      expect(record).not.toHaveBeenCalled();
    });

    it('unknown or out of scope: 404', async () => {
      repo.acknowledge.mockResolvedValue(null);
      await domainError(service.acknowledge(CTX, '7', 'en'), ApiErrorCode.NotFound);
    });
  });

  describe('resolve', () => {
    it('audits the change; resolving a resolved alert changes and audits nothing', async () => {
      const resolved = row({ state: 'resolved', resolvedBy: 'acme admin', resolvedAt: new Date('2026-12-01T10:00:00Z') });
      repo.resolve.mockResolvedValueOnce({ outcome: 'changed', before: row(), after: resolved } satisfies TransitionResult);
      repo.resolve.mockResolvedValueOnce({ outcome: 'unchanged', alert: resolved });
      expect((await service.resolve(CTX, '7', 'en')).state).toBe('resolved');
      expect((await service.resolve(CTX, '7', 'en')).resolvedBy).toBe('acme admin');
      expect(record).toHaveBeenCalledTimes(1);
      expect(record.mock.calls[0][1]).toMatchObject({
        action: 'alert.resolve',
        before: { state: 'open' },
        after: { state: 'resolved', resolvedBy: 'acme admin' },
      });
    });
  });

  describe('list', () => {
    it('passes filters through and hands back a cursor for the same sort', async () => {
      repo.page.mockResolvedValue({ rows: [row()], next: { v: '2026-11-30T08:00:00.123456Z', k: '7' } });
      const page = await service.list(CTX, query({ rule: 'battery_low,offline', state: 'open', severity: 'critical', sn: 'SN000001', limit: '1' }));
      expect(repo.page.mock.calls[0][1]).toStrictEqual({
        providerPath: undefined,
        rules: ['battery_low', 'offline'],
        severities: ['critical'],
        states: ['open'],
        sn: 'SN000001',
        from: undefined,
        to: undefined,
      });
      expect(page.nextCursor).toBe(encodeCursor({ v: '2026-11-30T08:00:00.123456Z', k: '7' }, 'firstSeen:desc'));
      await service.list(CTX, query({ cursor: page.nextCursor ?? '' }));
      expect(repo.page.mock.calls[1][2].after).toStrictEqual({ v: '2026-11-30T08:00:00.123456Z', k: '7' });
    });

    it('refuses a cursor of another sort or order, and a range that ends before it starts, before any query', async () => {
      const cursor = encodeCursor({ v: '2026-11-30T08:00:00.123456Z', k: '7' }, 'firstSeen:desc');
      const other = await domainError(service.list(CTX, query({ cursor, sort: 'lastSeen' })), ApiErrorCode.ValidationFailed);
      expect(other.details).toStrictEqual([{ field: 'query.cursor', message: 'cursor does not belong to this sort and order' }]);
      await domainError(service.list(CTX, query({ cursor, order: 'asc' })), ApiErrorCode.ValidationFailed);
      const range = await domainError(service.list(CTX, query({ from: '2026-12-01T00:00:00Z', to: '2026-11-30T00:00:00Z' })), ApiErrorCode.ValidationFailed);
      expect(range.details).toStrictEqual([{ field: 'query.from', message: 'from must be before to' }]);
      expect(repo.page).not.toHaveBeenCalled();
    });

    it('a providerId outside the scope is a 404 (the provider lookup is scoped)', async () => {
      await domainError(service.list(CTX, query({ providerId: '00000000-0000-4000-8000-000000000009' })), ApiErrorCode.NotFound);
      expect(getProvider).toHaveBeenCalledWith(SCOPE, '00000000-0000-4000-8000-000000000009');
      expect(repo.page).not.toHaveBeenCalled();
    });

    it('terminal history: 404 for a terminal outside the scope, without reading alerts', async () => {
      await domainError(service.terminalHistory(CTX, 'SN000009', { lang: 'en', limit: 50 }), ApiErrorCode.NotFound);
      expect(repo.page).not.toHaveBeenCalled();
    });
  });

  describe('views and CSV', () => {
    it('text in the requested language; a rule this build does not know shows its id', () => {
      expect(toAlertView(row(), 'en').text.title).not.toBe(toAlertView(row(), 'zh-CN').text.title);
      expect(toAlertView(row(), 'zh-CN').text.body).toMatch(/电量/);
      expect(toAlertView(row({ rule: 'future_rule' as AlertRow['rule'] }), 'en').text).toStrictEqual({ title: 'future_rule', body: 'future_rule' });
    });

    it('CSV cells: details as JSON, quotes doubled, formula-looking text defused', () => {
      const view = toAlertView(row({ sn: 'SN000001', acknowledgedBy: '=HYPERLINK("x")', details: { note: 'a,b' } }), 'en');
      const line = alertCsvRows([view]);
      expect(ALERT_EXPORT_COLUMNS.slice(0, 9)).toStrictEqual(['id', 'sn', 'providerId', 'rule', 'severity', 'state', 'title', 'body', 'details']);
      const cells = line.split(',');
      expect(cells.slice(0, 6)).toStrictEqual(['7', 'SN000001', PROVIDER, 'battery_low', 'warning', 'open']);
      expect(line.endsWith('\r\n')).toBe(true);
      expect(line).toContain(`"'=HYPERLINK(""x"")"`);
      expect(line).toContain('"{""note"":""a,b""}"');
    });
  });
});

describe('alertSummary (fleet summary)', () => {
  it('folds (rule, severity) groups into totals by severity and by rule, most first', () => {
    expect(
      alertSummary([
        { rule: 'offline', severity: 'critical', open: 3, acknowledged: 1 },
        { rule: 'battery_low', severity: 'warning', open: 2, acknowledged: 0 },
        { rule: 'battery_low', severity: 'critical', open: 2, acknowledged: 2 },
        { rule: 'signal_weak', severity: 'info', open: 1, acknowledged: 0 },
      ]),
    ).toStrictEqual({
      open: 8,
      acknowledged: 3,
      bySeverity: { info: 1, warning: 2, critical: 5 },
      byRule: [
        { rule: 'battery_low', count: 4 },
        { rule: 'offline', count: 3 },
        { rule: 'signal_weak', count: 1 },
      ],
    });
    expect(alertSummary([])).toStrictEqual({ open: 0, acknowledged: 0, bySeverity: { info: 0, warning: 0, critical: 0 }, byRule: [] });
  });
});
