import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AlertLocale } from '../rules/rule.types.js';
import { returnedRows } from './query-rows.js';
import type { DigestItem } from './message-render.js';
import type { ChannelColumns, ChannelTarget, DeliveryKind } from './notification.types.js';

export interface ClaimedDelivery {
  id: string;
  subscriptionId: string;
  kind: DeliveryKind;
  idempotencyKey: string;
  payload: Record<string, unknown>;
  /** This attempt's number (the claim counted it). */
  attempts: number;
}

export interface DeliveryTarget {
  subscriptionId: string;
  locale: AlertLocale;
  channel: ChannelTarget;
  channelEnabled: boolean;
}

export interface DeliveryOutcome {
  id: string;
  attempts: number;
  state: 'delivered' | 'pending' | 'failed';
  nextAttemptAt: Date | null;
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export interface BundledSummary {
  count: number;
  items: DigestItem[];
}

/**
 * The delivery queue. Claims take a lease in one short statement (UPDATE ... WHERE id IN (SELECT ...
 * FOR UPDATE SKIP LOCKED) RETURNING); sends happen outside any transaction; results are recorded
 * only by the holder of the lease (state 'sending' and the same attempt number), so a delivery whose
 * lease expired and was claimed again is never overwritten by the late first sender.
 *
 * Why not pg-boss or graphile-worker: both need several pooled connections and LISTEN/NOTIFY (and
 * graphile-worker installs its own schema of functions and triggers). The embedded database serves ONE
 * connection at a time through our wire server, without LISTEN/NOTIFY, so a queue that holds a
 * listening connection would starve every other query. A table, SKIP LOCKED and a poll is enough here.
 */
@Injectable()
export class DeliveryRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const rows = returnedRows<{
      id: string;
      subscription_id: string;
      kind: DeliveryKind;
      idempotency_key: string;
      payload: Record<string, unknown>;
      attempts: number;
    }>(
      await this.dataSource.query(
        `UPDATE notification_deliveries d
            SET state = 'sending', attempts = d.attempts + 1, lease_until = now() + $2 * interval '1 millisecond', updated_at = now()
          WHERE d.id IN (
                SELECT id FROM notification_deliveries
                 WHERE (state = 'pending' AND next_attempt_at <= now()) OR (state = 'sending' AND lease_until < now())
                 ORDER BY next_attempt_at, id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
        RETURNING d.id::text AS id, d.subscription_id::text AS subscription_id, d.kind, d.idempotency_key::text AS idempotency_key, d.payload, d.attempts`,
        [limit, leaseMs],
      ),
    );
    return rows.map((r) => ({
      id: r.id,
      subscriptionId: r.subscription_id,
      kind: r.kind,
      idempotencyKey: r.idempotency_key,
      payload: r.payload,
      attempts: r.attempts,
    }));
  }

  async targets(subscriptionIds: readonly string[]): Promise<Map<string, DeliveryTarget>> {
    if (subscriptionIds.length === 0) return new Map();
    const rows: (ChannelColumns & { sid: string; locale: AlertLocale })[] = await this.dataSource.query(
      `SELECT s.id::text AS sid, s.locale, c.id::text AS id, c.provider_id::text AS provider_id, c.type, c.name, c.url, c.secret, c.email_to, c.enabled AND s.enabled AS enabled
         FROM notification_subscriptions s JOIN notification_channels c ON c.id = s.channel_id
        WHERE s.id = ANY($1::uuid[])`,
      [[...new Set(subscriptionIds)]],
    );
    return new Map(
      rows.map((r) => [
        r.sid,
        {
          subscriptionId: r.sid,
          locale: r.locale,
          channelEnabled: r.enabled,
          channel: { id: r.id, providerId: r.provider_id, type: r.type, name: r.name, url: r.url, secret: r.secret, emailTo: r.email_to },
        },
      ]),
    );
  }

  /** Count and first items folded into each roll-up or quiet-hours digest. */
  async bundled(ids: readonly string[], maxItems: number): Promise<Map<string, BundledSummary>> {
    const out = new Map<string, BundledSummary>(ids.map((id) => [id, { count: 0, items: [] }]));
    if (ids.length === 0) return out;
    const rows: {
      parent: string;
      n: string;
      sn: string | null;
      rule: DigestItem['rule'];
      severity: DigestItem['severity'];
      transition: string | null;
      at: Date | null;
    }[] = await this.dataSource.query(
      `SELECT b.id::text AS parent, (SELECT count(*) FROM notification_deliveries c WHERE c.bundled_into = b.id) AS n, x.sn, x.rule, x.severity, x.transition, x.at
           FROM unnest($1::bigint[]) AS b(id)
           LEFT JOIN LATERAL (
                SELECT c.sn, c.rule, c.severity, c.payload->>'transition' AS transition, c.created_at AS at
                  FROM notification_deliveries c WHERE c.bundled_into = b.id ORDER BY c.id LIMIT $2) x ON true`,
      [ids, maxItems],
    );
    for (const r of rows) {
      const s = out.get(r.parent);
      if (!s) continue;
      s.count = Number(r.n);
      if (r.at) s.items.push({ sn: r.sn, rule: r.rule, severity: r.severity, transition: r.transition, at: new Date(r.at).toISOString() });
    }
    return out;
  }

  /**
   * Deletes finished deliveries (and, by cascade, their attempts) last changed more than `days` ago,
   * at most `limit` per call, and digest-run claims older than that; returns the deliveries deleted.
   */
  async trim(days: number, limit: number): Promise<number> {
    const deleted = returnedRows<{ id: string }>(
      await this.dataSource.query(
        `DELETE FROM notification_deliveries WHERE id IN (
           SELECT id FROM notification_deliveries
            WHERE state IN ('delivered', 'failed', 'bundled') AND updated_at < now() - $1 * interval '1 day'
            LIMIT $2)
         RETURNING id`,
        [days, limit],
      ),
    );
    await this.dataSource.query(`DELETE FROM notification_digest_runs WHERE day < (now() - $1 * interval '1 day')::date`, [days]);
    return deleted.length;
  }

  /** Gives back claimed deliveries this worker will not send (shutting down): due again at once, the claim not counted. */
  async release(claims: readonly { id: string; attempts: number }[]): Promise<void> {
    if (claims.length === 0) return;
    await this.dataSource.query(
      `UPDATE notification_deliveries d SET state = 'pending', attempts = d.attempts - 1, lease_until = NULL, updated_at = now()
         FROM unnest($1::bigint[], $2::int[]) AS u(id, attempts)
        WHERE d.id = u.id AND d.state = 'sending' AND d.attempts = u.attempts`,
      [claims.map((c) => c.id), claims.map((c) => c.attempts)],
    );
  }

  /** Records results held under this worker's lease, with one attempt row each; one transaction. */
  async record(outcomes: readonly DeliveryOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    await this.dataSource.transaction(async (m) => {
      const recorded = returnedRows<{ id: string; attempts: number }>(
        await m.query(
          `UPDATE notification_deliveries d
            SET state = u.state, next_attempt_at = COALESCE(u.next_at, d.next_attempt_at), lease_until = NULL,
                last_status_code = u.code, last_latency_ms = u.latency, last_error = u.error, updated_at = now(),
                delivered_at = CASE WHEN u.state = 'delivered' THEN now() ELSE d.delivered_at END
           FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::int[], $6::int[], $7::text[]) AS u(id, attempts, state, next_at, code, latency, error)
          WHERE d.id = u.id AND d.state = 'sending' AND d.attempts = u.attempts
        RETURNING d.id::text AS id, d.attempts`,
          [
            outcomes.map((o) => o.id),
            outcomes.map((o) => o.attempts),
            outcomes.map((o) => o.state),
            outcomes.map((o) => o.nextAttemptAt),
            outcomes.map((o) => o.statusCode),
            outcomes.map((o) => o.latencyMs),
            outcomes.map((o) => o.error?.slice(0, 1000) ?? null),
          ],
        ),
      );
      const mine = new Set(recorded.map((r) => r.id));
      const log = outcomes.filter((o) => mine.has(o.id));
      if (log.length === 0) return;
      await m.query(
        `INSERT INTO notification_attempts (delivery_id, attempt, started_at, latency_ms, status_code, error, ok)
         SELECT * FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::boolean[])`,
        [
          log.map((o) => o.id),
          log.map((o) => o.attempts),
          log.map((o) => o.startedAt),
          log.map((o) => o.latencyMs),
          log.map((o) => o.statusCode),
          log.map((o) => o.error?.slice(0, 1000) ?? null),
          log.map((o) => o.state === 'delivered'),
        ],
      );
    });
  }

  /**
   * Quiet hours over: each subscription's held deliveries whose window ended are folded into ONE
   * digest delivery ('quiet:<window end>'), in one transaction; returns the number released.
   */
  releaseHeld(limit: number): Promise<number> {
    return this.dataSource.transaction(async (m) => {
      const held: { id: string; subscription_id: string; channel_id: string; provider_id: string; next_attempt_at: Date }[] = await m.query(
        `SELECT id::text AS id, subscription_id::text AS subscription_id, channel_id::text AS channel_id, provider_id::text AS provider_id, next_attempt_at
           FROM notification_deliveries
          WHERE state = 'held' AND next_attempt_at <= now()
          ORDER BY subscription_id, id
          LIMIT $1
          FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      const groups = new Map<string, typeof held>();
      for (const h of held) {
        const key = `${h.subscription_id}|${new Date(h.next_attempt_at).toISOString()}`;
        groups.set(key, [...(groups.get(key) ?? []), h]);
      }
      for (const rows of groups.values()) {
        const first = rows[0];
        const windowEnd = new Date(first.next_attempt_at).toISOString();
        const [digest]: { id: string }[] = await m.query(
          `INSERT INTO notification_deliveries (subscription_id, channel_id, provider_id, kind, dedupe_key, payload, state, next_attempt_at)
           VALUES ($1, $2, $3, 'digest', $4, $5::jsonb, 'pending', now())
           ON CONFLICT (subscription_id, dedupe_key) DO UPDATE SET updated_at = now()
           RETURNING id::text AS id`,
          [first.subscription_id, first.channel_id, first.provider_id, `quiet:${windowEnd}`, JSON.stringify({ type: 'quiet', windowEnd })],
        );
        await m.query(`UPDATE notification_deliveries SET state = 'bundled', bundled_into = $1, updated_at = now() WHERE id = ANY($2::bigint[])`, [
          digest.id,
          rows.map((r) => r.id),
        ]);
      }
      return held.length;
    });
  }
}
