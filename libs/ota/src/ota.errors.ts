/** Codes of the OTA catalog's errors (thrown as DomainException; the API maps them to its statuses). */
export const OtaErrorCode = {
  /** The artifact's signature does not verify against the configured release key(s). */
  SignatureInvalid: 'OTA_SIGNATURE_INVALID',
  /** The signature names a key id that is not configured. */
  UnknownKey: 'OTA_UNKNOWN_KEY',
  /** No release public key is configured (OTA_RELEASE_PUBLIC_KEYS). */
  NoKeysConfigured: 'OTA_NO_KEYS_CONFIGURED',
  /** The uploaded bytes do not have the SHA-256 declared when the release was created. */
  DigestMismatch: 'OTA_DIGEST_MISMATCH',
  /** The version string cannot be parsed, or cannot be compared with the model's other releases. */
  InvalidVersion: 'OTA_INVALID_VERSION',
  /** The artifact is larger than OTA_ARTIFACT_MAX_BYTES. */
  ArtifactTooLarge: 'OTA_ARTIFACT_TOO_LARGE',
  /** A release with this (or an equal-comparing) version exists for the model and component. */
  ReleaseExists: 'OTA_RELEASE_EXISTS',
  /** The release is not in a state that allows this (e.g. uploading to an active release). */
  WrongState: 'OTA_WRONG_STATE',
  ReleaseNotFound: 'OTA_RELEASE_NOT_FOUND',
  /** A download URL that is expired, tampered with or for another release. */
  DownloadUrlInvalid: 'OTA_DOWNLOAD_URL_INVALID',
} as const;
export type OtaErrorCode = (typeof OtaErrorCode)[keyof typeof OtaErrorCode];
