import { Get, Inject } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import { Permission } from '../auth/roles.js';
import { DomainException } from '#contracts';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import { decodeCursor, encodeCursor, type Page } from '../common/pagination.js';
import { ZodParams, ZodQuery } from '../common/zod-validation.js';
import { DeadLetterViewRepository } from './dead-letter-view.repository.js';
import { deadLetterIdParam, deadLetterListQuery, deadLetterPage, deadLetterView, type DeadLetterListQuery, type DeadLetterView } from './dead-letter.dto.js';

/** Cursors are bound to this order (the only one). */
const SORT = 'id:desc';
const ID = /^[1-9]\d{0,17}$/;

/**
 * Messages the gateway refused (bad payloads, unknown topics, ACL denials, storage refusals), for
 * fleet ops: the firmware contract in docs/protocol.md says which are kept. Fleet-wide data with
 * no provider scope, so provider roles are refused (403).
 */
@FleetController('dead-letters', 'dead-letters')
export class DeadLetterController {
  constructor(@Inject(DeadLetterViewRepository) private readonly letters: DeadLetterViewRepository) {}

  @Get()
  @RequirePermission(Permission.DeadLettersRead)
  @ApiOperation({ summary: 'Dead letters, newest first, with metadata and the payload as base64 (ops roles)' })
  @ApiOkZod(deadLetterPage)
  @ApiErrors(400, 403)
  async list(@ZodQuery(deadLetterListQuery) q: DeadLetterListQuery): Promise<Page<DeadLetterView>> {
    const beforeId = q.cursor ? decodeCursor(q.cursor, SORT, (c) => c.v === null && ID.test(c.k)).k : null;
    // Bound as instants (a text bound like year 0000 is a database error, an instant is not).
    const from = q.from ? new Date(q.from) : null;
    const to = q.to ? new Date(q.to) : null;
    if (from && to && from >= to) {
      throw new DomainException(ApiErrorCode.ValidationFailed, 'invalid request query', [{ field: 'query.from', message: 'from must be before to' }]);
    }
    const items = await this.letters.list({ limit: q.limit, beforeId, reason: q.reason, topic: q.topic, clientId: q.clientId, from, to });
    const last = items[items.length - 1];
    return { items, nextCursor: items.length === q.limit && last ? encodeCursor({ v: null, k: last.id }, SORT) : null };
  }

  @Get(':id')
  @RequirePermission(Permission.DeadLettersRead)
  @ApiOperation({ summary: 'One dead letter (ops roles)' })
  @ApiOkZod(deadLetterView)
  @ApiErrors(400, 403, 404)
  async get(@ZodParams(deadLetterIdParam) { id }: z.output<typeof deadLetterIdParam>): Promise<DeadLetterView> {
    const letter = await this.letters.find(id);
    if (!letter) throw notFound(`dead letter ${id}`);
    return letter;
  }
}
