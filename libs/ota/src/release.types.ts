export const RELEASE_COMPONENTS = ['firmware', 'app'] as const;
export type ReleaseComponent = (typeof RELEASE_COMPONENTS)[number];
export const RELEASE_STATUSES = ['draft', 'active', 'withdrawn'] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

/** A catalog row. Exactly one of artifactPath (stored under OTA_ARTIFACT_DIR) and artifactUrl (CDN) once not a draft. */
export interface Release {
  id: string;
  model: string;
  component: ReleaseComponent;
  version: string;
  status: ReleaseStatus;
  artifactPath: string | null;
  artifactUrl: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  signature: string;
  keyId: string | null;
  releaseNotes: string;
  minBatteryPct: number | null;
  createdBy: string;
  createdByKey: string | null;
  createdAt: Date;
  updatedAt: Date;
  withdrawnAt: Date | null;
}

export interface ReleaseActor {
  name: string;
  keyId: string | null;
}

export interface NewRelease {
  model: string;
  component: ReleaseComponent;
  version: string;
  releaseNotes: string;
  minBatteryPct: number | null;
  signature: string;
  /** The signing key's id when the uploader names it; otherwise any configured key may verify. */
  keyId: string | null;
  /** External artifact (https CDN): URL, size and digest declared, never downloaded. */
  artifactUrl: string | null;
  sizeBytes: number | null;
  sha256: string | null;
}

export interface ReleaseFilter {
  model?: string;
  component?: ReleaseComponent;
  status?: ReleaseStatus;
  /** Leave drafts out (provider roles never see them). */
  excludeDrafts?: boolean;
  limit: number;
}
