import { Readable } from 'node:stream';
import { Get, HttpCode, Inject, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import type { Page } from '../common/pagination.js';
import { ZodParams, ZodQuery } from '../common/zod-validation.js';
import { snParam } from '../terminals/terminal.dto.js';
import { alertFilterQuery, alertIdParam, alertListQuery, alertPage, alertView, langQuery, terminalAlertsQuery, type AlertView } from './alert.dto.js';
import { ALERT_EXPORT_COLUMNS, ALERT_RESOLVED, AlertService } from './alert.service.js';

type AlertIdParam = z.output<typeof alertIdParam>;
type LangQuery = z.output<typeof langQuery>;

@FleetController('alerts', 'alerts')
export class AlertController {
  constructor(@Inject(AlertService) private readonly alerts: AlertService) {}

  @Get()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Alerts of terminals in the caller\u2019s scope: filters, keyset pagination, text in the chosen language' })
  @ApiOkZod(alertPage)
  @ApiErrors(400, 403, 404)
  list(@Ctx() ctx: RequestContext, @ZodQuery(alertListQuery) query: z.output<typeof alertListQuery>): Promise<Page<AlertView>> {
    return this.alerts.list(ctx, query);
  }

  @Get('export.csv')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({
    summary: 'The alert list as CSV (same filters and sort, every page), streamed',
    description: `Columns: ${ALERT_EXPORT_COLUMNS.join(', ')}. details is JSON. Empty field = null. Text starting with = + - @ is prefixed with an apostrophe.`,
  })
  @ApiProduces('text/csv')
  @ApiResponse({ status: 200, description: 'CSV with a header row', content: { 'text/csv': { schema: { type: 'string' } } } })
  @ApiErrors(400, 403, 404)
  async exportCsv(@Ctx() ctx: RequestContext, @ZodQuery(alertFilterQuery) query: z.output<typeof alertFilterQuery>, @Res() reply: FastifyReply): Promise<void> {
    const chunks = await this.alerts.exportCsv(ctx, query);
    await reply
      .status(200)
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="alerts.csv"')
      .header('cache-control', 'no-store')
      .send(Readable.from(chunks, { objectMode: false }));
  }

  @Get(':id')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'One alert' })
  @ApiOkZod(alertView)
  @ApiErrors(400, 403, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(alertIdParam) { id }: AlertIdParam, @ZodQuery(langQuery) { lang }: LangQuery): Promise<AlertView> {
    return this.alerts.get(ctx, id, lang);
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'open \u2192 acknowledged; records the API key name and time',
    description: `Repeating it changes nothing (200, not audited). A resolved alert answers 409 CONFLICT with details[0].code ${ALERT_RESOLVED}.`,
  })
  @ApiOkZod(alertView)
  @ApiErrors(400, 403, 404, 409)
  acknowledge(@Ctx() ctx: RequestContext, @ZodParams(alertIdParam) { id }: AlertIdParam, @ZodQuery(langQuery) { lang }: LangQuery): Promise<AlertView> {
    return this.alerts.acknowledge(ctx, id, lang);
  }

  @Post(':id/resolve')
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'open or acknowledged \u2192 resolved by hand; records the API key name and time',
    description:
      'Writes a `resolved` alert event in the same transaction (notifications say who resolved it). Resolving a resolved alert changes nothing (200, not audited). ' +
      'Whether the engine raises a new alert while the condition still holds depends on the rule.',
  })
  @ApiOkZod(alertView)
  @ApiErrors(400, 403, 404)
  resolve(@Ctx() ctx: RequestContext, @ZodParams(alertIdParam) { id }: AlertIdParam, @ZodQuery(langQuery) { lang }: LangQuery): Promise<AlertView> {
    return this.alerts.resolve(ctx, id, lang);
  }
}

/** A terminal's alert history (under /v1/terminals, with the terminal routes). */
@FleetController('terminals', 'alerts')
export class TerminalAlertsController {
  constructor(@Inject(AlertService) private readonly alerts: AlertService) {}

  @Get(':sn/alerts')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'The terminal\u2019s alerts, newest first (by first seen), keyset pagination' })
  @ApiOkZod(alertPage)
  @ApiErrors(400, 403, 404)
  history(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: z.output<typeof snParam>,
    @ZodQuery(terminalAlertsQuery) query: z.output<typeof terminalAlertsQuery>,
  ): Promise<Page<AlertView>> {
    return this.alerts.terminalHistory(ctx, sn, query);
  }
}
