import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AlertDetails, AlertRule, Severity } from '../rules/rule.types.js';
import type { AlertEventPayload, RollupPayload, SubscriptionColumns } from './notification.types.js';
import { quietUntil } from './schedule.js';
import { isStorm, stormWindowStart } from './storm.js';

const SEVERITY_RANK: Record<string, number> = { info: 0, warning: 1, critical: 2 };

export interface FanOutSettings {
  batchSize: number;
  storm: { percent: number; minCount: number; windowS: number; holdS: number };
}

interface EventRow {
  id: string;
  alert_id: string;
  kind: string;
  sn: string;
  provider_id: string;
  rule: AlertRule;
  severity: Severity;
  details: AlertDetails;
  created_at: Date;
  path: string | null;
  cell_id: string | null;
  city: string | null;
}

export type SubscriptionRow = Omit<SubscriptionColumns, 'daily_digest' | 'enabled'> & { path: string };

interface NewDelivery {
  sub: SubscriptionRow;
  event: EventRow;
  state: 'pending' | 'held' | 'bundled';
  nextAttemptAt: Date;
  bundledInto: string | null;
}

/** Every ancestor path of a materialized path, itself included ('/a/b/' -> '/a/', '/a/b/'). */
export function ancestorPaths(path: string): string[] {
  const ids = path.split('/').filter(Boolean);
  return ids.map((_, i) => `/${ids.slice(0, i + 1).join('/')}/`);
}

/** Does the subscription want this event (rules filter, minimum severity)? */
export function subscriptionMatches(
  sub: Pick<SubscriptionRow, 'rules' | 'min_severity' | 'path'>,
  event: { rule: string; severity: string; path: string },
): boolean {
  if (!event.path.startsWith(sub.path)) return false;
  if (sub.rules.length > 0 && !sub.rules.includes(event.rule)) return false;
  return (SEVERITY_RANK[event.severity] ?? 0) >= (SEVERITY_RANK[sub.min_severity] ?? 0);
}

/**
 * The storm groups (storm.ts), narrowest first: which event field names an event's group, the SNs of
 * the group with a given id (an SQL expression), and, where it is not "a member's event", what makes
 * an event the group's (SQL fragments of this file, never input).
 */
interface StormGroup {
  kind: RollupPayload['group']['kind'];
  idOf: (e: EventRow) => string | null;
  idType: 'uuid' | 'text';
  members: (id: string) => string;
  raisedIn?: (id: string) => string;
}
const STORM_GROUPS: readonly StormGroup[] = [
  {
    kind: 'provider',
    idOf: (e) => e.provider_id,
    idType: 'uuid',
    members: (id) => `SELECT sn FROM terminals WHERE provider_id = ${id}`,
    // The provider the alert was raised for, even if the terminal has moved since.
    raisedIn: (id) => `e.provider_id = ${id}`,
  },
  { kind: 'cell', idOf: (e) => e.cell_id, idType: 'text', members: (id) => `SELECT sn FROM terminal_state WHERE cell_id = ${id}` },
  // A carrier's outage in one city spreads over many cells and providers, each too small to be a storm.
  { kind: 'city', idOf: (e) => e.city, idType: 'text', members: (id) => `SELECT sn FROM terminals WHERE city = ${id}` },
];
const raisedIn = (group: StormGroup, id: string): string => group.raisedIn?.(id) ?? `e.sn IN (${group.members(id)})`;
function stormGroup(kind: StormGroup['kind']): StormGroup {
  const group = STORM_GROUPS.find((g) => g.kind === kind);
  if (!group) throw new Error(`no storm group of kind ${kind}`);
  return group;
}

/** The event's storm, if any: the narrowest of its groups in one (STORM_GROUPS' order) names it best. */
function stormOf<S>(storms: Map<string, S>, event: EventRow): S | undefined {
  for (const group of STORM_GROUPS) {
    const id = group.idOf(event);
    const storm = id ? storms.get(`${group.kind}|${id}|${event.rule}`) : undefined;
    if (storm) return storm;
  }
  return undefined;
}

/**
 * The outbox consumer: claims undispatched alert_events (SKIP LOCKED, so several workers split the
 * work), matches the subscriptions of the alert's provider and its ancestors, applies quiet hours and
 * storm control, inserts the deliveries and marks the events dispatched - one short transaction, no
 * network I/O inside. UNIQUE (subscription_id, dedupe_key) makes a repeated fan-out a no-op.
 */
@Injectable()
export class NotificationOutboxRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Fans out one batch; returns the number of events dispatched. */
  fanOut(settings: FanOutSettings, now = new Date()): Promise<number> {
    return this.dataSource.transaction(async (m) => {
      const events: EventRow[] = await m.query(
        `SELECT e.id::text AS id, e.alert_id::text AS alert_id, e.kind, e.sn, e.provider_id::text AS provider_id, e.rule, e.severity, e.details,
                e.created_at, p.path, ts.cell_id, t.city
           FROM alert_events e
           LEFT JOIN providers p ON p.id = e.provider_id
           LEFT JOIN terminal_state ts ON ts.sn = e.sn
           LEFT JOIN terminals t ON t.sn = e.sn
          WHERE e.dispatched_at IS NULL
          ORDER BY e.id
          LIMIT $1
          FOR UPDATE OF e SKIP LOCKED`,
        [settings.batchSize],
      );
      if (events.length === 0) return 0;
      const paths = [...new Set(events.flatMap((e) => (e.path ? ancestorPaths(e.path) : [])))];
      const subs: SubscriptionRow[] = paths.length
        ? await m.query(
            `SELECT s.id::text AS id, s.provider_id::text AS provider_id, s.channel_id::text AS channel_id, s.rules, s.min_severity, s.locale,
                    to_char(s.quiet_start, 'HH24:MI') AS quiet_start, to_char(s.quiet_end, 'HH24:MI') AS quiet_end, s.time_zone, sp.path
               FROM notification_subscriptions s
               JOIN providers sp ON sp.id = s.provider_id
               JOIN notification_channels c ON c.id = s.channel_id
              WHERE s.enabled AND c.enabled AND sp.path = ANY($1::text[])`,
            [paths],
          )
        : [];
      const pairs: { event: EventRow; sub: SubscriptionRow; quietEnd: Date | null }[] = [];
      for (const event of events) {
        if (!event.path) continue;
        for (const sub of subs) {
          if (!subscriptionMatches(sub, { rule: event.rule, severity: event.severity, path: event.path })) continue;
          pairs.push({ event, sub, quietEnd: quietUntil(now, sub.quiet_start, sub.quiet_end, sub.time_zone) });
        }
      }
      const storms = await this.detectStorms(
        m,
        pairs.filter((p) => p.quietEnd === null && p.event.kind === 'raised').map((p) => p.event),
        settings,
        now,
      );
      const windowStart = stormWindowStart(now, settings.storm.windowS);
      const windowEnd = new Date(windowStart.getTime() + settings.storm.windowS * 1000);
      const rollupIds = new Map<string, string>();
      const rows: NewDelivery[] = [];
      for (const { event, sub, quietEnd } of pairs) {
        if (quietEnd) {
          rows.push({ event, sub, state: 'held', nextAttemptAt: quietEnd, bundledInto: null });
          continue;
        }
        const storm = event.kind === 'raised' ? stormOf(storms, event) : undefined;
        if (!storm) {
          rows.push({ event, sub, state: 'pending', nextAttemptAt: now, bundledInto: null });
          continue;
        }
        const key = `${sub.id}|${storm.group.kind}|${storm.group.id}|${event.rule}`;
        let rollupId = rollupIds.get(key);
        if (!rollupId) {
          const payload: RollupPayload = {
            rule: event.rule,
            severity: event.severity,
            group: storm.group,
            groupSize: storm.groupSize,
            windowStart: windowStart.toISOString(),
            windowEnd: windowEnd.toISOString(),
          };
          rollupId = await this.upsertRollup(m, sub, payload, new Date(now.getTime() + settings.storm.holdS * 1000));
          rollupIds.set(key, rollupId);
          await this.foldPending(m, sub.id, event.rule, storm.group, rollupId, new Date(now.getTime() - settings.storm.windowS * 1000));
        }
        rows.push({ event, sub, state: 'bundled', nextAttemptAt: now, bundledInto: rollupId });
      }
      await this.insertAlertDeliveries(m, rows);
      await m.query(`UPDATE alert_events SET dispatched_at = now() WHERE id = ANY($1::bigint[])`, [events.map((e) => e.id)]);
      return events.length;
    });
  }

  /** Storm groups (see storm.ts) among the raised events of this batch, keyed kind|id|rule. */
  private async detectStorms(
    m: EntityManager,
    raised: readonly EventRow[],
    settings: FanOutSettings,
    now: Date,
  ): Promise<Map<string, { group: RollupPayload['group']; groupSize: number }>> {
    const out = new Map<string, { group: RollupPayload['group']; groupSize: number }>();
    if (raised.length === 0) return out;
    const since = new Date(now.getTime() - settings.storm.windowS * 1000);
    for (const group of STORM_GROUPS) {
      const keyed = [
        ...new Map(
          raised.flatMap((e): [string, { id: string; rule: string }][] => {
            const id = group.idOf(e);
            return id ? [[`${id}|${e.rule}`, { id, rule: e.rule }]] : [];
          }),
        ).values(),
      ];
      if (keyed.length === 0) continue;
      const counts: { rule: string; id: string; raised: string; size: string }[] = await m.query(
        `SELECT g.rule, g.id::text AS id,
                (SELECT count(DISTINCT e.sn) FROM alert_events e
                  WHERE ${raisedIn(group, 'g.id')} AND e.kind = 'raised' AND e.rule = g.rule AND e.created_at >= $3) AS raised,
                (SELECT count(*) FROM (${group.members('g.id')}) m) AS size
           FROM unnest($1::text[], $2::${group.idType}[]) AS g(rule, id)`,
        [keyed.map((k) => k.rule), keyed.map((k) => k.id), since],
      );
      for (const c of counts) {
        if (isStorm(Number(c.raised), Number(c.size), settings.storm))
          out.set(`${group.kind}|${c.id}|${c.rule}`, { group: { kind: group.kind, id: c.id }, groupSize: Number(c.size) });
      }
    }
    return out;
  }

  /**
   * The roll-up of this storm (subscription, group, rule, window) still waiting to be sent, or a new
   * one: a roll-up already sent (or being sent) is not reused, so terminals joining the storm later
   * get a follow-up roll-up instead of vanishing into one that went out. The row lock keeps a
   * concurrent claim from sending it while this transaction adds to it.
   */
  private async upsertRollup(m: EntityManager, sub: SubscriptionRow, payload: RollupPayload, sendAt: Date): Promise<string> {
    const prefix = `rollup:${payload.group.kind}:${payload.group.id}:${payload.rule}:${payload.windowStart}`;
    const [latest]: { id: string; state: string; n: string }[] = await m.query(
      `SELECT id::text AS id, state, (SELECT count(*) FROM notification_deliveries x WHERE x.subscription_id = $1 AND x.dedupe_key LIKE $2 || ':%') AS n
         FROM notification_deliveries
        WHERE subscription_id = $1 AND dedupe_key LIKE $2 || ':%'
        ORDER BY id DESC LIMIT 1
        FOR UPDATE`,
      [sub.id, prefix],
    );
    if (latest?.state === 'pending') return latest.id;
    const rows: { id: string }[] = await m.query(
      `INSERT INTO notification_deliveries (subscription_id, channel_id, provider_id, kind, dedupe_key, rule, severity, payload, state, next_attempt_at)
       VALUES ($1, $2, $3, 'rollup', $4, $5, $6, $7::jsonb, 'pending', $8)
       ON CONFLICT (subscription_id, dedupe_key) DO UPDATE SET updated_at = now()
       RETURNING id::text AS id`,
      [sub.id, sub.channel_id, sub.provider_id, `${prefix}:${latest ? Number(latest.n) : 0}`, payload.rule, payload.severity, JSON.stringify(payload), sendAt],
    );
    return rows[0].id;
  }

  /** Alert deliveries of the storm still waiting to be sent go into the roll-up instead. */
  private async foldPending(
    m: EntityManager,
    subscriptionId: string,
    rule: string,
    group: RollupPayload['group'],
    rollupId: string,
    since: Date,
  ): Promise<void> {
    const { members, idType } = stormGroup(group.kind);
    await m.query(
      `UPDATE notification_deliveries d SET state = 'bundled', bundled_into = $3, updated_at = now()
        WHERE d.subscription_id = $1 AND d.kind = 'alert' AND d.state = 'pending' AND d.attempts = 0 AND d.rule = $2
          AND d.created_at >= $5 AND d.payload->>'transition' = 'raised' AND d.sn IN (${members(`$4::${idType}`)})`,
      [subscriptionId, rule, rollupId, group.id, since],
    );
  }

  private async insertAlertDeliveries(m: EntityManager, rows: readonly NewDelivery[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1000) {
      const chunk = rows.slice(i, i + 1000);
      const payload = (e: EventRow): AlertEventPayload => ({
        eventId: e.id,
        alertId: e.alert_id,
        transition: e.kind,
        sn: e.sn,
        providerId: e.provider_id,
        rule: e.rule,
        severity: e.severity,
        details: e.details,
        at: new Date(e.created_at).toISOString(),
      });
      await m.query(
        `INSERT INTO notification_deliveries
           (subscription_id, channel_id, provider_id, kind, dedupe_key, event_id, sn, rule, severity, payload, state, bundled_into, next_attempt_at)
         SELECT u.subscription_id, u.channel_id, u.provider_id, 'alert', 'event:' || u.event_id, u.event_id, u.sn, u.rule, u.severity, u.payload,
                u.state, u.bundled_into, u.next_attempt_at
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::bigint[], $11::timestamptz[])
             AS u(subscription_id, channel_id, provider_id, event_id, sn, rule, severity, payload, state, bundled_into, next_attempt_at)
         ON CONFLICT (subscription_id, dedupe_key) DO NOTHING`,
        [
          chunk.map((r) => r.sub.id),
          chunk.map((r) => r.sub.channel_id),
          chunk.map((r) => r.sub.provider_id),
          chunk.map((r) => r.event.id),
          chunk.map((r) => r.event.sn),
          chunk.map((r) => r.event.rule),
          chunk.map((r) => r.event.severity),
          chunk.map((r) => JSON.stringify(payload(r.event))),
          chunk.map((r) => r.state),
          chunk.map((r) => r.bundledInto),
          chunk.map((r) => r.nextAttemptAt),
        ],
      );
    }
  }
}
