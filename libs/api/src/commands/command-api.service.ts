import { Inject, Injectable } from '@nestjs/common';
import { CommandErrorCode, CommandsRepository, CommandsService, type CommandEventRow, type CommandRow } from '#commands';
import { CommandType, DomainException } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { decodeCursor, encodeCursor, isRealDate, type Page } from '../common/pagination.js';
import { scopePath } from '../common/scope-sql.js';
import { TerminalViewRepository } from '../terminals/terminal-view.repository.js';
import type { CommandView, CreateCommandBody } from './command.dto.js';

const CURSOR_SORT = 'createdAt:desc';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toView(row: CommandRow, events: readonly CommandEventRow[]): CommandView {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: row.id,
    sn: row.sn,
    type: row.type,
    params: row.payload,
    state: row.state,
    reason: row.reason,
    detail: row.detail,
    progress: row.progress,
    attempts: row.attempts,
    createdAt: row.createdAt.toISOString(),
    sentAt: iso(row.sentAt),
    ackedAt: iso(row.ackedAt),
    confirmedAt: iso(row.confirmedAt),
    updatedAt: row.updatedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    stepDeadlineAt: iso(row.stepDeadlineAt),
    campaignId: row.campaignId,
    createdBy: row.createdBy,
    history: events
      .filter((e) => e.commandId === row.id)
      .map((e) => ({
        time: e.time.toISOString(),
        reportedAt: iso(e.reportedAt),
        source: e.source,
        state: e.state,
        reason: e.reason,
        detail: e.detail,
        progress: e.progress,
        applied: e.applied,
      })),
  };
}

/** What audit entries show of a command. */
function auditView(row: CommandRow): Record<string, unknown> {
  return { sn: row.sn, type: row.type, params: row.payload, state: row.state, expiresAt: row.expiresAt.toISOString() };
}

/** Commands per terminal for the fleet API: scope checked on the terminal (404 outside), every change audited. */
@Injectable()
export class CommandApiService {
  constructor(
    @Inject(CommandsService) private readonly commands: CommandsService,
    @Inject(CommandsRepository) private readonly repo: CommandsRepository,
    @Inject(TerminalViewRepository) private readonly terminals: TerminalViewRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  private async terminalInScope(ctx: RequestContext, sn: string): Promise<{ providerId: string }> {
    const record = await this.terminals.findRecord(ctx.scope, sn);
    if (!record) throw notFound(`terminal ${sn}`);
    return record;
  }

  async list(ctx: RequestContext, sn: string, q: { limit: number; cursor?: string }): Promise<Page<CommandView>> {
    await this.terminalInScope(ctx, sn);
    const after = q.cursor === undefined ? null : decodeCursor(q.cursor, CURSOR_SORT, (c) => typeof c.v === 'string' && isRealDate(c.v) && UUID.test(c.k));
    const rows = await this.repo.pageForTerminal(sn, q.limit + 1, after ? { createdAt: String(after.v), id: after.k } : null);
    const page = rows.slice(0, q.limit);
    const events = await this.repo.events(page.map((r) => r.id));
    const last = page[page.length - 1];
    return {
      items: page.map((r) => toView(r, events)),
      nextCursor: rows.length > q.limit && last ? encodeCursor({ v: last.createdAt.toISOString(), k: last.id }, CURSOR_SORT) : null,
    };
  }

  async send(ctx: RequestContext, sn: string, body: CreateCommandBody): Promise<CommandView> {
    // Single OTA installs are an ops tool; provider rollouts go through campaigns (with their gates).
    if (body.type === CommandType.OtaInstall && ctx.principal.role !== Role.OpsAdmin) {
      throw new DomainException(ApiErrorCode.Forbidden, 'only ops-admin may send a single ota.install');
    }
    const terminal = await this.terminalInScope(ctx, sn);
    let row: CommandRow;
    try {
      row = await this.commands.create({
        sn,
        type: body.type,
        params: body.params,
        ttlMs: body.ttlSeconds === undefined ? undefined : body.ttlSeconds * 1000,
        createdBy: ctx.principal.name,
      });
    } catch (err) {
      if (err instanceof DomainException && err.code === CommandErrorCode.InvalidParams) {
        throw new DomainException(ApiErrorCode.ValidationFailed, err.message, err.details);
      }
      throw err;
    }
    await this.audit.record(ctx, { action: 'command.create', targetType: 'command', targetId: row.id, providerId: terminal.providerId, after: auditView(row) });
    return toView(row, await this.repo.events([row.id]));
  }

  async get(ctx: RequestContext, id: string): Promise<CommandView> {
    const row = await this.repo.findInScope(id, scopePath(ctx.scope));
    if (!row) throw notFound(`command ${id}`);
    return toView(row, await this.repo.events([row.id]));
  }

  async cancel(ctx: RequestContext, id: string): Promise<CommandView> {
    const row = await this.repo.findInScope(id, scopePath(ctx.scope));
    if (!row) throw notFound(`command ${id}`);
    const terminal = await this.terminalInScope(ctx, row.sn);
    let done: CommandRow;
    try {
      done = await this.commands.cancel(row, ctx.principal.name);
    } catch (err) {
      if (err instanceof DomainException && err.code === CommandErrorCode.NotCancellable) throw new DomainException(ApiErrorCode.Conflict, err.message);
      throw err;
    }
    await this.audit.record(ctx, {
      action: 'command.cancel',
      targetType: 'command',
      targetId: id,
      providerId: terminal.providerId,
      before: auditView(row),
      after: auditView(done),
    });
    return toView(done, await this.repo.events([id]));
  }
}
