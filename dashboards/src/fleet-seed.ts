import type { ClientBase } from 'pg';

/**
 * A simulated fleet written straight into the schema with set-based statements (generate_series),
 * for the dashboard query test and the dashboards benchmark: providers in a tree, terminals with
 * heartbeats over several days, latest state, presence, alerts, notifications, a release and a
 * campaign with waves, commands, the fleet_summary snapshot and the heartbeat rollups.
 */
export interface FleetSeedOptions {
  terminals: number;
  days: number;
  /** Seconds between two heartbeats of a terminal. */
  heartbeatIntervalS: number;
  /** One extra terminal (DETAIL_SN) reports at this interval over the whole period (terminal detail). */
  detailIntervalS: number;
  now: Date;
  timescale: boolean;
  /** Heartbeats are inserted this many terminals per statement (default: all at once). */
  terminalsPerStatement?: number;
  log?: (msg: string) => void;
}

export const DETAIL_SN = 'DETAIL0001';
export const CAMPAIGN_ID = '00000000-0000-4000-8000-0000000000c1';
const RELEASE_ID = '00000000-0000-4000-8000-0000000000e1';
const MODELS = ['EP-T1', 'EP-T2', 'N5'];

export interface SeededFleet {
  rootProviderId: string;
  models: string[];
  heartbeats: number;
  terminals: number;
}

async function timed(log: ((msg: string) => void) | undefined, what: string, work: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  await work();
  log?.(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export async function seedFleet(db: ClientBase, opts: FleetSeedOptions): Promise<SeededFleet> {
  const { log } = opts;
  const now = opts.now.toISOString();
  const from = new Date(opts.now.getTime() - opts.days * 86_400_000).toISOString();
  const root = (await db.query<{ id: string }>(`SELECT id FROM providers WHERE parent_id IS NULL AND code = 'root'`)).rows[0].id;

  await timed(log, 'providers and terminals', async () => {
    // root -> sp-east -> sp-east-city, root -> sp-west: a subtree filter has something to cut.
    const [east, eastCity, west] = ['00000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-0000000000ec', '00000000-0000-4000-8000-00000000000f'];
    for (const [id, parent, code, name] of [
      [east, root, 'sp-east', 'East Service Co'],
      [eastCity, east, 'sp-east-city', 'East City Branch'],
      [west, root, 'sp-west', 'West Service Co'],
    ]) {
      await db.query(
        `INSERT INTO providers (id, parent_id, code, name, path) SELECT $1::uuid, p.id, $3, $4, p.path || $1 || '/' FROM providers p WHERE p.id = $2::uuid`,
        [id, parent, code, name],
      );
    }
    await db.query(
      `
      INSERT INTO terminals (sn, model, tid, mid, provider_id, registered_lat, registered_lon, credential_hash, created_at)
      SELECT CASE WHEN i = 0 THEN $2 ELSE 'D' || lpad(i::text, 8, '0') END,
             ($3::text[])[1 + i % 3],
             lpad(i::text, 8, '0'),
             '898' || lpad((i % 500)::text, 12, '0'),
             (ARRAY[$1::uuid, '00000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-0000000000ec', '00000000-0000-4000-8000-00000000000f'])[1 + i % 4],
             -- Three metro areas, terminals spread over about 0.5 degrees around each.
             (ARRAY[31.23, 39.90, 23.13])[1 + (i / 7) % 3] + ((i * 7919) % 1000) / 2000.0,
             (ARRAY[121.47, 116.40, 113.26])[1 + (i / 7) % 3] + ((i::bigint * 104729) % 1000) / 2000.0,
             '\\x00'::bytea, $4::timestamptz
      FROM generate_series(0, $5 - 1) AS i`,
      [root, DETAIL_SN, MODELS, from, opts.terminals],
    );
  });

  // Heartbeats: terminal i reports every interval, offset by i so buckets fill evenly; the detail
  // terminal (i = 0) at its own, denser interval. Values drift with time and differ per terminal.
  const heartbeatInsert = (where: string, interval: number) => `
    INSERT INTO heartbeats (time, sn, received_at, seq, model, firmware_version, app_version, battery_pct, charging, battery_temp_c, rat, rsrp, rsrq, sinr, rssi, csq,
                            mcc_mnc, cell_id, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, renewal_at, renewal_result, renewal_reason,
                            data_used_mb, data_allowance_mb, lat, lon, location_accuracy_m, location_source, uptime_s, tx_approved, tx_declined)
    SELECT ts, t.sn, ts + interval '1 second', (n % 500)::int, t.model,
           CASE WHEN ts > $2::timestamptz - (($2::timestamptz - $1::timestamptz) * ((k % 10) / 10.0)) AND k % 3 = 0 THEN 'V1.1.0' ELSE 'V1.0.0' END,
           'A2.3.' || (k % 4), greatest(1, 100 - ((n * 3 + k) % 100))::real, (n + k) % 5 = 0, 30, 'LTE',
           (-70 - (k % 50) - (n % 7))::real, -10, 8, -60, 20,
           '46000', 'cell-' || (k % 40), '8986' || lpad(k::text, 15, '0'), '86' || lpad(k::text, 13, '0'), CASE WHEN k % 2 = 0 THEN 'esim' ELSE 'physical' END,
           'CMCC', (ARRAY['active', 'active', 'active', 'grace', 'suspended', 'expired'])[1 + k % 6],
           ($2::timestamptz)::date + ((k * 13) % 120 - 20), k % 4 <> 0,
           CASE WHEN k % 9 = 0 THEN $2::timestamptz - interval '1 day' END, CASE WHEN k % 9 = 0 THEN 'failed' END, CASE WHEN k % 9 = 0 THEN (ARRAY['insufficient_balance', 'carrier_timeout'])[1 + k % 2] END,
           (n % 1000) * 0.5, 3072, t.registered_lat, t.registered_lon, 50, 'gnss', n * ${interval}, (n % 20)::int, (n % 3)::int
    FROM (SELECT sn, model, registered_lat, registered_lon, CASE WHEN sn = '${DETAIL_SN}' THEN 0 ELSE substring(sn FROM 2)::int END AS k FROM terminals) t
    CROSS JOIN LATERAL generate_series(0, floor(extract(epoch FROM $2::timestamptz - $1::timestamptz) / ${interval})::int - 1) AS n
    CROSS JOIN LATERAL (SELECT $1::timestamptz + make_interval(secs => n * ${interval} + (t.k % ${interval}))) AS tt(ts)
    WHERE ${where}`;
  await timed(log, 'heartbeats', async () => {
    // In slices of terminals: one statement per slice keeps each transaction bounded at fleet scale.
    const slice = opts.terminalsPerStatement ?? opts.terminals;
    for (let first = 1; first < opts.terminals; first += slice) {
      await db.query(heartbeatInsert(`t.sn <> '${DETAIL_SN}' AND t.k BETWEEN ${first} AND ${first + slice - 1}`, opts.heartbeatIntervalS), [from, now]);
    }
    await db.query(heartbeatInsert(`t.sn = '${DETAIL_SN}'`, opts.detailIntervalS), [from, now]);
  });

  await timed(log, 'terminal state and presence', async () => {
    await db.query(
      `
      INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat, rsrp, rsrq, sinr, rssi,
                                  mcc_mnc, cell_id, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, renewal_at, renewal_result, renewal_reason,
                                  data_used_mb, data_allowance_mb, lat, lon, uptime_s, online, presence_changed_at, last_connected_at)
      SELECT DISTINCT ON (h.sn) h.sn, h.time, h.received_at, h.seq, h.model, h.firmware_version, h.app_version, h.battery_pct, h.charging, h.rat, h.rsrp, h.rsrq, h.sinr, h.rssi,
             h.mcc_mnc, h.cell_id, h.iccid, h.imei, h.sim_type, h.carrier, h.plan_status, h.plan_expires_on, h.plan_auto_renew, h.renewal_at, h.renewal_result, h.renewal_reason,
             h.data_used_mb, h.data_allowance_mb, h.lat, h.lon, h.uptime_s,
             -- One terminal in twelve is offline now.
             abs(hashtext(h.sn)) % 12 <> 0, h.time - interval '2 hours', h.time - interval '2 hours'
      FROM heartbeats h
      WHERE h.time > $1::timestamptz - interval '1 day'
      ORDER BY h.sn, h.time DESC`,
      [now],
    );
    await db.query(
      `
      INSERT INTO presence_events (time, sn, online, reason)
      SELECT $1::timestamptz + make_interval(hours => e * 6) + make_interval(secs => abs(hashtext(t.sn)) % 3600), t.sn, e % 2 = 0, CASE WHEN e % 2 = 0 THEN 'connect' ELSE 'keepalive_timeout' END
      FROM terminals t CROSS JOIN generate_series(0, $2 * 4 - 1) AS e
      WHERE t.sn = $3 OR abs(hashtext(t.sn)) % 10 = 0`,
      [from, opts.days, DETAIL_SN],
    );
  });

  await timed(log, 'alerts and notifications', async () => {
    // About a third of the terminals raise alerts over the period; half of those are resolved,
    // a quarter acknowledged; renewal_failed alerts carry the carrier's reason.
    await db.query(
      `
      INSERT INTO alerts (sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, occurrences, acknowledged_at, acknowledged_by, resolved_at, resolved_by)
      SELECT t.sn, t.provider_id, r.rule, r.severity, st.state,
             CASE WHEN r.rule = 'renewal_failed' THEN jsonb_build_object('reason', (ARRAY['insufficient_balance', 'carrier_timeout', 'plan_unavailable'])[1 + g % 3]) ELSE '{}' END,
             opened, opened + interval '10 minutes', 1 + g % 5,
             CASE WHEN st.state = 'acknowledged' OR (st.state = 'resolved' AND g % 2 = 0) THEN opened + make_interval(mins => (5 + g % 120)::int) END,
             CASE WHEN st.state = 'acknowledged' OR (st.state = 'resolved' AND g % 2 = 0) THEN 'ops' END,
             CASE WHEN st.state = 'resolved' THEN opened + make_interval(mins => (30 + g % 600)::int) END,
             CASE WHEN st.state = 'resolved' THEN 'system' END
      FROM (SELECT sn, provider_id, row_number() OVER (ORDER BY sn) AS g FROM terminals) t
      CROSS JOIN LATERAL (SELECT (ARRAY['battery_low', 'signal_weak', 'offline', 'renewal_failed', 'plan_expiring', 'firmware_outdated'])[1 + t.g % 6] AS rule,
                                 (ARRAY['warning', 'critical', 'info'])[1 + t.g % 3] AS severity) r
      CROSS JOIN LATERAL (SELECT (ARRAY['resolved', 'open', 'acknowledged', 'resolved'])[1 + (t.g / 3) % 4] AS state) st
      CROSS JOIN LATERAL (SELECT $1::timestamptz + ($2::timestamptz - $1::timestamptz) * ((t.g * 7919) % 1000 / 1000.0) AS opened) o
      WHERE t.g % 3 = 0 AND t.sn <> $3`,
      [from, now, DETAIL_SN],
    );
    // The detail terminal: one alert still open, one resolved within the last day.
    await db.query(
      `
      INSERT INTO alerts (sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, occurrences, resolved_at, resolved_by)
      SELECT sn, provider_id, 'signal_weak', 'warning', 'open', '{}'::jsonb, $2::timestamptz - interval '2 hours', $2::timestamptz - interval '5 minutes', 12, NULL::timestamptz, NULL::text
      FROM terminals WHERE sn = $1
      UNION ALL
      SELECT sn, provider_id, 'battery_low', 'warning', 'resolved', '{}'::jsonb, $2::timestamptz - interval '20 hours', $2::timestamptz - interval '18 hours', 3,
             $2::timestamptz - interval '17 hours', 'system'
      FROM terminals WHERE sn = $1`,
      [DETAIL_SN, now],
    );
    await db.query(`
      INSERT INTO notification_channels (id, provider_id, type, name, url)
      SELECT gen_random_uuid(), id, 'webhook', 'ops hook ' || code, 'https://hooks.example.invalid/' || code FROM providers`);
    await db.query(`
      INSERT INTO notification_subscriptions (id, provider_id, channel_id)
      SELECT gen_random_uuid(), c.provider_id, c.id FROM notification_channels c`);
    await db.query(`
      INSERT INTO notification_deliveries (subscription_id, channel_id, provider_id, kind, dedupe_key, sn, rule, severity, state, attempts, last_status_code, last_error, created_at, updated_at)
      SELECT s.id, s.channel_id, s.provider_id, 'alert', 'event:' || a.id, a.sn, a.rule, a.severity,
             CASE WHEN a.id % 5 = 0 THEN 'failed' ELSE 'delivered' END, 1 + a.id % 3,
             CASE WHEN a.id % 5 = 0 THEN 502 ELSE 200 END, CASE WHEN a.id % 5 = 0 THEN 'HTTP 502 from receiver' END, a.first_seen_at, a.first_seen_at
      FROM alerts a JOIN notification_subscriptions s ON s.provider_id = a.provider_id`);
    await db.query(`
      INSERT INTO notification_attempts (delivery_id, attempt, started_at, latency_ms, status_code, error, ok)
      SELECT d.id, n, d.created_at + make_interval(secs => n * 30), 120, CASE WHEN d.state = 'failed' OR n < d.attempts THEN 502 ELSE 200 END,
             CASE WHEN d.state = 'failed' OR n < d.attempts THEN 'HTTP 502' END, NOT (d.state = 'failed' OR n < d.attempts)
      FROM notification_deliveries d CROSS JOIN LATERAL generate_series(1, d.attempts) AS n`);
  });

  await timed(log, 'release, campaign, commands', async () => {
    await db.query(
      `
      INSERT INTO releases (id, model, component, version, version_key, status, artifact_url, size_bytes, sha256, signature, key_id, created_by, created_at, updated_at)
      VALUES ($1, 'EP-T1', 'firmware', 'V1.1.0', '1.1.0', 'active', 'https://cdn.example.invalid/v110.bin', 1048576, repeat('ab', 32), 'c2lnbmF0dXJl', '0123456789abcdef', 'seed', $2, $2)`,
      [RELEASE_ID, from],
    );
    const health = JSON.stringify(
      [0, 1].map((wave) => ({
        wave,
        at: opts.now.toISOString(),
        updated: 40 * (wave + 1),
        control: 200,
        judged: true,
        metrics: {
          offline: { updatedRate: 0.02 * (wave + 1), controlRate: 0.02, limit: 0.05, bad: false },
          reboots: { updatedRate: 0.01, controlRate: 0.01, limit: 0.03, bad: false },
        },
        verdict: 'pass',
      })),
    );
    await db.query(
      `
      INSERT INTO campaigns (id, name, release_id, target, waves, rate_per_minute, success_threshold, failure_threshold, soak_s, guards, health, state,
                             created_by, approved_by, created_at, approved_at, started_at, updated_at, wave, progress)
      VALUES ($1, 'EP-T1 to V1.1.0', $2, '{}', '{"canary": {"percent": 5}, "growth": 2}', 100, 0.95, 0.05, 3600, '{}', '{}', 'running',
              'alice', 'bob', $3, $3, $3, $4, 1, jsonb_build_object('health', $5::jsonb))`,
      [CAMPAIGN_ID, RELEASE_ID, from, now, health],
    );
    // Every EP-T1 terminal in the campaign: wave 0 (canary) then wave 1, with commands in every state.
    await db.query(
      `
      WITH members AS (
        SELECT t.sn, row_number() OVER (ORDER BY t.sn) AS g FROM terminals t WHERE t.model = 'EP-T1'
      ), cmd AS (
        INSERT INTO commands (id, sn, type, payload, state, max_rank, reason, attempts, created_at, sent_at, acked_at, updated_at, expires_at, campaign_id, created_by)
        SELECT gen_random_uuid(), m.sn, 'ota.install', '{"version": "V1.1.0"}',
               (ARRAY['succeeded', 'succeeded', 'succeeded', 'failed', 'queued', 'sent', 'downloading', 'rolled_back', 'rejected', 'deferred'])[1 + m.g % 10],
               0,
               CASE (m.g % 10) WHEN 3 THEN 'checksum_mismatch' WHEN 7 THEN 'boot_failed' WHEN 8 THEN 'battery_low' WHEN 9 THEN 'in_transaction' END,
               1, $2::timestamptz + interval '1 hour', $2::timestamptz + interval '1 hour', $2::timestamptz + interval '2 hours', $2::timestamptz + interval '3 hours',
               $3::timestamptz + interval '7 days', $1, 'campaign'
        FROM members m
        RETURNING id, sn
      )
      INSERT INTO campaign_members (campaign_id, sn, wave, command_id, assigned_at)
      SELECT $1, cmd.sn, CASE WHEN members.g % 20 = 0 THEN 0 ELSE 1 END, cmd.id, $2::timestamptz + interval '1 hour'
      FROM cmd JOIN members USING (sn)`,
      [CAMPAIGN_ID, from, now],
    );
    // Commands sent by ops to the detail terminal.
    await db.query(
      `
      INSERT INTO commands (id, sn, type, payload, state, max_rank, attempts, created_at, sent_at, acked_at, updated_at, expires_at, created_by)
      SELECT gen_random_uuid(), $1, (ARRAY['reboot', 'heartbeat.interval'])[1 + n % 2], '{}', 'succeeded', 0, 1,
             $2::timestamptz - make_interval(hours => n * 6 + 1), $2::timestamptz - make_interval(hours => n * 6 + 1),
             $2::timestamptz - make_interval(hours => n * 6 + 1) + interval '5 seconds', $2::timestamptz - make_interval(hours => n * 6 + 1) + interval '5 seconds',
             $2::timestamptz - make_interval(hours => n * 6 + 1) + interval '1 day', 'ops'
      FROM generate_series(0, 7) AS n`,
      [DETAIL_SN, now],
    );
  });

  await timed(log, 'fleet_summary', () => refreshFleetSummary(db));
  await timed(log, 'rollups', () => refreshRollups(db, opts.timescale, from, now));
  const heartbeats = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM heartbeats`)).rows[0].n);
  return { rootProviderId: root, models: MODELS, heartbeats, terminals: opts.terminals };
}

/**
 * fleet_summary as migration 0012 describes it (the worker maintains it in production); rebuilt
 * here so the seeded snapshot matches the seeded state.
 */
export async function refreshFleetSummary(db: ClientBase): Promise<void> {
  await db.query(`DELETE FROM fleet_summary`);
  await db.query(`
    INSERT INTO fleet_summary (provider_id, model, plan_status, firmware_version, terminals, reported, online, offline, plan_expiring_30d, auto_renew_off,
                               auto_renew_failed, battery_below_20, signal_below_minus_110)
    SELECT t.provider_id, t.model, s.plan_status, s.firmware_version, count(*), count(s.sn), count(*) FILTER (WHERE s.online),
           count(*) FILTER (WHERE s.sn IS NOT NULL AND NOT s.online),
           count(*) FILTER (WHERE s.plan_expires_on BETWEEN current_date AND current_date + 30),
           count(*) FILTER (WHERE NOT s.plan_auto_renew), count(*) FILTER (WHERE s.renewal_result = 'failed'),
           count(*) FILTER (WHERE s.battery_pct < 20), count(*) FILTER (WHERE s.rsrp < -110)
    FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
    GROUP BY 1, 2, 3, 4`);
}

const PER_TERMINAL = `
  count(*) AS heartbeats, max(h.time) AS last_time,
  (array_agg(h.model ORDER BY h.time DESC))[1], (array_agg(h.firmware_version ORDER BY h.time DESC))[1], (array_agg(h.app_version ORDER BY h.time DESC))[1],
  min(h.battery_pct), avg(h.battery_pct), min(h.rsrp), avg(h.rsrp), min(h.rssi), avg(h.rssi), avg(h.sinr), max(h.data_used_mb), max(h.uptime_s),
  count(*) FILTER (WHERE h.seq = 0)`;
const PER_GROUP = `
  count(DISTINCT h.sn), count(*), count(*) FILTER (WHERE h.seq = 0), avg(h.battery_pct), avg(h.rsrp), avg(h.rssi),
  count(*) FILTER (WHERE h.battery_pct < 20), count(*) FILTER (WHERE h.battery_pct >= 20 AND h.battery_pct < 50), count(*) FILTER (WHERE h.battery_pct >= 50),
  count(*) FILTER (WHERE h.rsrp >= -80), count(*) FILTER (WHERE h.rsrp >= -90 AND h.rsrp < -80), count(*) FILTER (WHERE h.rsrp >= -100 AND h.rsrp < -90),
  count(*) FILTER (WHERE h.rsrp < -100), count(*) FILTER (WHERE h.rsrp IS NULL),
  count(DISTINCT h.sn) FILTER (WHERE h.battery_pct < 20), count(DISTINCT h.sn) FILTER (WHERE h.rsrp < -110)`;

/**
 * Materializes the 0012 rollups over [from, to): the continuous aggregates' own refresh on
 * TimescaleDB; on plain PostgreSQL the same aggregates inserted into the rollup tables (the worker's
 * job in production).
 */
export async function refreshRollups(db: ClientBase, timescale: boolean, from: string, to: string): Promise<void> {
  const rollups: [string, string, 'terminal' | 'group'][] = [
    ['heartbeats_5m', '5 minutes', 'terminal'],
    ['heartbeats_1h', '1 hour', 'terminal'],
    ['fleet_heartbeats_5m', '5 minutes', 'group'],
    ['fleet_heartbeats_1h', '1 hour', 'group'],
  ];
  for (const [name, width, kind] of rollups) {
    if (timescale) {
      await db.query(`CALL refresh_continuous_aggregate($1, $2::timestamptz - interval '1 hour', $3::timestamptz + interval '1 hour')`, [name, from, to]);
      continue;
    }
    const bucket = `date_bin(interval '${width}', h.time, timestamptz '2000-01-01 00:00:00+00')`;
    await db.query(`DELETE FROM ${name}`);
    await db.query(
      kind === 'terminal'
        ? `INSERT INTO ${name} SELECT ${bucket}, h.sn, ${PER_TERMINAL} FROM heartbeats h GROUP BY 1, h.sn`
        : `INSERT INTO ${name} SELECT ${bucket}, t.provider_id, h.model, h.firmware_version, ${PER_GROUP} FROM heartbeats h JOIN terminals t ON t.sn = h.sn GROUP BY 1, 2, 3, 4`,
    );
  }
}
