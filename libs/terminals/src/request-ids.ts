import { randomUUID } from 'node:crypto';

/** The ids an audit entry records of the HTTP request that caused it. */
export interface RequestIds {
  /** The id the response carries: the client's x-request-id when it sent a sane one. */
  requestId: string;
  /** Minted by this server whatever the client sent, so audit correlation cannot be spoofed. */
  serverRequestId: string;
}

/** Request ids of a Fastify request (`request.id` honours a sane client x-request-id, see the app factory). */
export function requestIds(request: { id: unknown; headers: Record<string, string | string[] | undefined> }): RequestIds {
  const requestId = String(request.id);
  const clientSent = request.headers['x-request-id'] === requestId;
  return { requestId, serverRequestId: clientSent ? randomUUID() : requestId };
}
