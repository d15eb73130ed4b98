import { Inject, Injectable } from '@nestjs/common';
import { DomainException } from '#contracts';
import { ALERT_RULES, type AlertLocale } from '#alerts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { decodeCursor, encodeCursor, type Cursor, type Page } from '../common/pagination.js';
import { ProviderService } from '../providers/provider.service.js';
import { csvField } from '../terminals/terminal-csv.js';
import { TerminalViewRepository } from '../terminals/terminal-view.repository.js';
import { renderAlertText, type AlertText } from './alert-rules.port.js';
import { alertView, type AlertFilterQuery, type AlertListQuery, type AlertView, type TerminalAlertsQuery } from './alert.dto.js';
import { AlertRepository, type AlertFilter, type AlertRow, type TransitionResult } from './alert.repository.js';

/** The error detail code of acknowledging a resolved alert (the status is 409 CONFLICT). */
export const ALERT_RESOLVED = 'ALERT_RESOLVED';
const EXPORT_PAGE_ROWS = 5000;
/** CSV export columns: the list item's fields, text as its title and body, details as JSON. */
export const ALERT_EXPORT_COLUMNS = Object.keys(alertView.shape).flatMap((k) => (k === 'text' ? ['title', 'body'] : [k]));

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const fieldError = (field: string, message: string) => new DomainException(ApiErrorCode.ValidationFailed, message, [{ field, message }]);
const KNOWN_RULES: ReadonlySet<string> = new Set(ALERT_RULES);

/**
 * The alert's text; a rule id this build does not know (a newer engine) or details a text cannot
 * be made from still list, with the rule id as text, rather than failing the whole page.
 */
function alertText(r: AlertRow, lang: AlertLocale): AlertText {
  const plain = { title: r.rule, body: r.rule };
  if (!KNOWN_RULES.has(r.rule)) return plain;
  try {
    return renderAlertText(r.rule, r.severity, r.details, lang);
  } catch {
    return plain;
  }
}

export function toAlertView(r: AlertRow, lang: AlertLocale): AlertView {
  return {
    id: r.id,
    sn: r.sn,
    providerId: r.providerId,
    rule: r.rule,
    severity: r.severity,
    state: r.state,
    text: alertText(r, lang),
    details: r.details,
    firstSeenAt: r.firstSeenAt.toISOString(),
    lastSeenAt: r.lastSeenAt.toISOString(),
    occurrences: r.occurrences,
    acknowledgedAt: iso(r.acknowledgedAt),
    acknowledgedBy: r.acknowledgedBy,
    resolvedAt: iso(r.resolvedAt),
    resolvedBy: r.resolvedBy,
  };
}

/** What audit entries show of an alert (its lifecycle fields; the provider is the entry's providerId). */
function toAuditView(r: AlertRow) {
  return {
    sn: r.sn,
    rule: r.rule,
    severity: r.severity,
    state: r.state,
    acknowledgedAt: iso(r.acknowledgedAt),
    acknowledgedBy: r.acknowledgedBy,
    resolvedAt: iso(r.resolvedAt),
    resolvedBy: r.resolvedBy,
  };
}

export function alertCsvHeader(): string {
  return `${ALERT_EXPORT_COLUMNS.join(',')}\r\n`;
}

export function alertCsvRows(items: readonly AlertView[]): string {
  let out = '';
  for (const item of items) {
    const { text, details, ...rest } = item;
    const flat: Record<string, string | number | boolean | null> = { ...rest, title: text.title, body: text.body, details: JSON.stringify(details) };
    out += `${ALERT_EXPORT_COLUMNS.map((c) => csvField(flat[c] ?? null)).join(',')}\r\n`;
  }
  return out;
}

/**
 * Alerts in the caller's scope: lists (with CSV), detail and the manual lifecycle
 * (open -> acknowledged -> resolved). The scope follows the terminal's current owner.
 */
@Injectable()
export class AlertService {
  constructor(
    @Inject(AlertRepository) private readonly alerts: AlertRepository,
    @Inject(ProviderService) private readonly providers: ProviderService,
    @Inject(TerminalViewRepository) private readonly terminals: TerminalViewRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  /** Query filters as repository filters; a providerId outside the scope is 404 like an unknown one. */
  async resolveFilter(scope: Scope, q: AlertFilterQuery): Promise<AlertFilter> {
    if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) throw fieldError('query.from', 'from must be before to');
    const provider = q.providerId ? await this.providers.get(scope, q.providerId) : null;
    return { providerPath: provider?.path, rules: q.rule, severities: q.severity, states: q.state, sn: q.sn, from: q.from, to: q.to };
  }

  private decode(raw: string | undefined, sortKey: string): Cursor | null {
    return raw === undefined ? null : decodeCursor(raw, sortKey, (c) => this.alerts.cursorFits(c));
  }

  async list(ctx: RequestContext, q: AlertListQuery): Promise<Page<AlertView>> {
    // A cursor belongs to the sort and order it was issued under.
    const sortKey = `${q.sort}:${q.order}`;
    const after = this.decode(q.cursor, sortKey);
    const filter = await this.resolveFilter(ctx.scope, q);
    const page = await this.alerts.page(ctx.scope, filter, { sort: q.sort, order: q.order, limit: q.limit, after });
    return { items: page.rows.map((r) => toAlertView(r, q.lang)), nextCursor: page.next ? encodeCursor(page.next, sortKey) : null };
  }

  /**
   * CSV chunks (header, then one chunk per keyset page) through the list's page query. Validation
   * and the scope check happen before the first chunk; the generator runs as fast as the client reads.
   */
  async exportCsv(ctx: RequestContext, q: AlertFilterQuery): Promise<AsyncGenerator<string>> {
    const filter = await this.resolveFilter(ctx.scope, q);
    const alerts = this.alerts;
    const scope = ctx.scope;
    return (async function* () {
      yield alertCsvHeader();
      let after: Cursor | null = null;
      do {
        const page: { rows: AlertRow[]; next: Cursor | null } = await alerts.page(scope, filter, {
          sort: q.sort,
          order: q.order,
          limit: EXPORT_PAGE_ROWS,
          after,
        });
        if (page.rows.length > 0) yield alertCsvRows(page.rows.map((r) => toAlertView(r, q.lang)));
        after = page.next;
      } while (after);
    })();
  }

  /** A terminal's alerts, newest first (404 when the terminal is not in scope). */
  async terminalHistory(ctx: RequestContext, sn: string, q: TerminalAlertsQuery): Promise<Page<AlertView>> {
    const sortKey = 'terminal:firstSeen:desc';
    const after = this.decode(q.cursor, sortKey);
    if (!(await this.terminals.findRecord(ctx.scope, sn))) throw notFound(`terminal ${sn}`);
    const page = await this.alerts.page(ctx.scope, { sn, states: q.state }, { sort: 'firstSeen', order: 'desc', limit: q.limit, after });
    return { items: page.rows.map((r) => toAlertView(r, q.lang)), nextCursor: page.next ? encodeCursor(page.next, sortKey) : null };
  }

  async get(ctx: RequestContext, id: string, lang: AlertLocale): Promise<AlertView> {
    const alert = await this.alerts.findById(ctx.scope, id);
    if (!alert) throw notFound(`alert ${id}`);
    return toAlertView(alert, lang);
  }

  /** open -> acknowledged; repeating it changes nothing (and audits nothing); a resolved alert is 409. */
  async acknowledge(ctx: RequestContext, id: string, lang: AlertLocale): Promise<AlertView> {
    const result = await this.alerts.acknowledge(ctx.scope, id, ctx.principal.name);
    if (!result) throw notFound(`alert ${id}`);
    if (result.outcome === 'already-resolved') {
      throw new DomainException(ApiErrorCode.Conflict, 'the alert is resolved and cannot be acknowledged', [
        { code: ALERT_RESOLVED, message: 'the alert is resolved', resolvedAt: iso(result.alert.resolvedAt) },
      ]);
    }
    return toAlertView(await this.audited(ctx, 'alert.acknowledge', result), lang);
  }

  /** open|acknowledged -> resolved, with a 'resolved' outbox event; resolving a resolved alert changes nothing. */
  async resolve(ctx: RequestContext, id: string, lang: AlertLocale): Promise<AlertView> {
    const result = await this.alerts.resolve(ctx.scope, id, ctx.principal.name);
    if (!result) throw notFound(`alert ${id}`);
    return toAlertView(await this.audited(ctx, 'alert.resolve', result), lang);
  }

  /** Audits a transition that changed the alert (no entry for a no-op) and returns the alert as it is now. */
  private async audited(ctx: RequestContext, action: string, result: TransitionResult): Promise<AlertRow> {
    if (result.outcome !== 'changed') return result.alert;
    await this.audit.record(ctx, {
      action,
      targetType: 'alert',
      targetId: result.after.id,
      providerId: result.after.providerId,
      before: toAuditView(result.before),
      after: toAuditView(result.after),
    });
    return result.after;
  }
}
