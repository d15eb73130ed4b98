import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { RenewalDigestPayload, RenewalDigestRow } from './notification.types.js';

/**
 * Terminals of a provider's subtree to renew: data plan expiring within `days` of `today` (the
 * digest's local day), or the last automatic renewal failed. Shared by the daily digest (worker) and
 * GET /v1/providers/{id}/renewal-digest (API).
 */
@Injectable()
export class RenewalDigestRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  private static readonly WHERE = `p.path LIKE $1 || '%'
      AND ((s.plan_expires_on BETWEEN $2::date AND $2::date + $3::int) OR s.renewal_result = 'failed')`;

  async rows(providerPath: string, today: string, days: number, limit: number): Promise<RenewalDigestRow[]> {
    const rows: {
      sn: string;
      tid: string | null;
      mid: string | null;
      model: string;
      provider_id: string;
      plan_status: string | null;
      expires_on: string | null;
      days_left: number | null;
      plan_auto_renew: boolean | null;
      renewal_result: string | null;
      renewal_reason: string | null;
    }[] = await this.dataSource.query(
      `SELECT t.sn, t.tid, t.mid, t.model, t.provider_id::text AS provider_id, s.plan_status, to_char(s.plan_expires_on, 'YYYY-MM-DD') AS expires_on,
              (s.plan_expires_on - $2::date) AS days_left, s.plan_auto_renew, s.renewal_result, s.renewal_reason
         FROM terminals t
         JOIN providers p ON p.id = t.provider_id
         JOIN terminal_state s ON s.sn = t.sn
        WHERE ${RenewalDigestRepository.WHERE}
        ORDER BY s.plan_expires_on NULLS LAST, t.sn
        LIMIT $4`,
      [providerPath, today, days, limit],
    );
    return rows.map((r) => ({
      sn: r.sn,
      tid: r.tid,
      mid: r.mid,
      model: r.model,
      providerId: r.provider_id,
      planStatus: r.plan_status,
      expiresOn: r.expires_on,
      daysLeft: r.days_left === null ? null : Number(r.days_left),
      autoRenew: r.plan_auto_renew,
      renewalResult: r.renewal_result,
      renewalReason: r.renewal_reason,
    }));
  }

  async count(providerPath: string, today: string, days: number): Promise<number> {
    const [row]: { n: string }[] = await this.dataSource.query(
      `SELECT count(*) AS n FROM terminals t JOIN providers p ON p.id = t.provider_id JOIN terminal_state s ON s.sn = t.sn
        WHERE ${RenewalDigestRepository.WHERE}`,
      [providerPath, today, days],
    );
    return Number(row.n);
  }

  /** Providers with at least one enabled subscription that wants the daily digest. */
  async digestProviders(): Promise<{ id: string; path: string }[]> {
    return this.dataSource.query(
      `SELECT DISTINCT p.id::text AS id, p.path FROM notification_subscriptions s
         JOIN notification_channels c ON c.id = s.channel_id JOIN providers p ON p.id = s.provider_id
        WHERE s.daily_digest AND s.enabled AND c.enabled`,
    );
  }

  /**
   * The day's run for one provider: the (provider, day) row is the claim (first worker wins, the
   * others skip), and one digest delivery per digest subscription, all in one transaction. Returns
   * false when another worker (or an earlier tick) already ran it. An empty digest sends nothing.
   */
  async runOnce(providerId: string, payload: RenewalDigestPayload): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const claimed: unknown[] = await m.query(
        `INSERT INTO notification_digest_runs (provider_id, day) VALUES ($1, $2::date) ON CONFLICT DO NOTHING RETURNING provider_id`,
        [providerId, payload.day],
      );
      if (claimed.length === 0) return false;
      if (payload.total === 0) return true;
      await m.query(
        `INSERT INTO notification_deliveries (subscription_id, channel_id, provider_id, kind, dedupe_key, payload, state, next_attempt_at)
         SELECT s.id, s.channel_id, s.provider_id, 'digest', 'renewal:' || $2, $3::jsonb, 'pending', now()
           FROM notification_subscriptions s JOIN notification_channels c ON c.id = s.channel_id
          WHERE s.provider_id = $1 AND s.daily_digest AND s.enabled AND c.enabled
         ON CONFLICT (subscription_id, dedupe_key) DO NOTHING`,
        [providerId, payload.day, JSON.stringify(payload)],
      );
      return true;
    });
  }
}
