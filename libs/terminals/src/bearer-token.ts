/** The token of an `Authorization: Bearer <token>` header (the scheme in any case, as RFC 9110 says). */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
}
