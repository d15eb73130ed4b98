-- Notifications: channels and subscriptions per provider, deliveries (fan-out of the alert_events
-- outbox, storm roll-ups, quiet-hours and renewal digests) with their attempt log.

-- Where messages go. `secret` (webhook HMAC key, DingTalk sign secret) and `url` (robot URLs carry
-- their access token) are write-only through the API.
CREATE TABLE notification_channels (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider_id  uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
  type         text NOT NULL CHECK (type IN ('webhook', 'wecom', 'dingtalk', 'email')),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  url          text CHECK (length(url) <= 2048),
  secret       text CHECK (length(secret) <= 512),
  email_to     text[] NOT NULL DEFAULT '{}',
  enabled      boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((type = 'email') = (url IS NULL)),
  CHECK (type <> 'email' OR cardinality(email_to) BETWEEN 1 AND 50)
);
CREATE INDEX notification_channels_provider_idx ON notification_channels (provider_id, id);

-- Which alerts of the provider's subtree go to a channel. The subscription belongs to its channel's
-- provider. rules = '{}' means every rule; quiet hours are a local [start, end) window in time_zone.
CREATE TABLE notification_subscriptions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider_id   uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
  channel_id    uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
  rules         text[] NOT NULL DEFAULT '{}',
  min_severity  text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
  locale        text NOT NULL DEFAULT 'zh-CN' CHECK (locale IN ('zh-CN', 'en')),
  quiet_start   time,
  quiet_end     time,
  time_zone     text NOT NULL DEFAULT 'Asia/Shanghai',
  daily_digest  boolean NOT NULL DEFAULT false,
  enabled       boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE INDEX notification_subscriptions_provider_idx ON notification_subscriptions (provider_id, id);
CREATE INDEX notification_subscriptions_channel_idx ON notification_subscriptions (channel_id);

-- One row per message to send (or held, or folded into another). dedupe_key makes every producer
-- idempotent per subscription: 'event:<alert_events.id>', 'rollup:<group>:<rule>:<window>',
-- 'quiet:<window end>', 'renewal:<local day>'. A 'bundled' row was folded into the roll-up or digest
-- row named by bundled_into (the log keeps it; that row's message counts it).
CREATE TABLE notification_deliveries (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  subscription_id   uuid NOT NULL REFERENCES notification_subscriptions (id) ON DELETE CASCADE,
  channel_id        uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
  -- The subscription's provider: tenancy of the delivery log.
  provider_id       uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
  kind              text NOT NULL CHECK (kind IN ('alert', 'rollup', 'digest')),
  dedupe_key        text NOT NULL,
  idempotency_key   uuid NOT NULL DEFAULT gen_random_uuid(),
  event_id          bigint REFERENCES alert_events (id) ON DELETE SET NULL,
  sn                text,
  rule              text,
  severity          text,
  payload           jsonb NOT NULL DEFAULT '{}',
  state             text NOT NULL CHECK (state IN ('pending', 'held', 'sending', 'delivered', 'failed', 'bundled')),
  bundled_into      bigint REFERENCES notification_deliveries (id) ON DELETE SET NULL,
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  lease_until       timestamptz,
  last_status_code  integer,
  last_latency_ms   integer,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  UNIQUE (subscription_id, dedupe_key)
);
-- The delivery claim: due pending rows and expired leases.
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX notification_deliveries_held_idx ON notification_deliveries (subscription_id, next_attempt_at) WHERE state = 'held';
CREATE INDEX notification_deliveries_provider_idx ON notification_deliveries (provider_id, id DESC);
CREATE INDEX notification_deliveries_bundled_idx ON notification_deliveries (bundled_into) WHERE bundled_into IS NOT NULL;
CREATE INDEX notification_deliveries_storm_idx ON notification_deliveries (subscription_id, rule, created_at) WHERE state = 'pending' AND kind = 'alert';

-- Every send attempt: status code, latency, error.
CREATE TABLE notification_attempts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id  bigint NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  started_at   timestamptz NOT NULL,
  latency_ms   integer NOT NULL,
  status_code  integer,
  error        text,
  ok           boolean NOT NULL
);
CREATE INDEX notification_attempts_delivery_idx ON notification_attempts (delivery_id, attempt);

-- The daily renewal digest runs once per provider and local day, whatever the number of workers.
CREATE TABLE notification_digest_runs (
  provider_id  uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
  day          date NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider_id, day)
);

-- Storm control groups terminals by the cell they last reported.
CREATE INDEX terminal_state_cell_idx ON terminal_state (cell_id) WHERE cell_id IS NOT NULL;
