-- OTA catalog: firmware and payment-app releases per model, each with a signed artifact stored
-- under OTA_ARTIFACT_DIR (artifact_path, relative) or on a CDN (artifact_url, never downloaded).

CREATE TABLE releases (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  model            text NOT NULL CHECK (length(model) BETWEEN 1 AND 64),
  component        text NOT NULL CHECK (component IN ('firmware', 'app')),
  version          text NOT NULL CHECK (length(version) BETWEEN 1 AND 128),
  -- The version normalised by the comparison rule (libs/contracts firmware-version.ts): versions
  -- that compare equal ('1.2' and '1.2.0') have the same key, so the unique index below refuses both.
  version_key      text NOT NULL,
  -- draft: created, artifact not uploaded yet; active: in the catalog; withdrawn: no new downloads.
  status           text NOT NULL CHECK (status IN ('draft', 'active', 'withdrawn')),
  artifact_path    text CHECK (artifact_path ~ '^[0-9a-f-]+\.[0-9a-f]+\.bin$'),
  artifact_url     text CHECK (artifact_url LIKE 'https://%'),
  size_bytes       bigint CHECK (size_bytes >= 0),
  -- Lowercase hex; for a draft, the digest the upload must have when one was declared.
  sha256           text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  -- Ed25519 over the 32 raw bytes of the artifact's SHA-256 digest, base64 (see docs/ota.md).
  signature        text NOT NULL CHECK (length(signature) <= 200),
  -- The configured release key the signature verified against (first 16 hex of sha256 of the raw key).
  key_id           text CHECK (key_id ~ '^[0-9a-f]{16}$'),
  release_notes    text NOT NULL DEFAULT '' CHECK (length(release_notes) <= 20000),
  min_battery_pct  smallint CHECK (min_battery_pct BETWEEN 0 AND 100),
  created_by       text NOT NULL,
  created_by_key   uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  withdrawn_at     timestamptz,
  CHECK (artifact_path IS NULL OR artifact_url IS NULL),
  CHECK (status = 'draft' OR (size_bytes IS NOT NULL AND sha256 IS NOT NULL AND key_id IS NOT NULL
                              AND (artifact_path IS NOT NULL OR artifact_url IS NOT NULL))),
  CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL)),
  UNIQUE (model, component, version)
);
CREATE UNIQUE INDEX releases_version_key_idx ON releases (model, component, version_key);
CREATE INDEX releases_created_idx ON releases (created_at DESC, id DESC);
