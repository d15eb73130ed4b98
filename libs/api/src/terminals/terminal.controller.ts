import { Readable } from 'node:stream';
import { Get, Header, HttpCode, Inject, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { DomainException } from '#contracts';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { ApiErrorCode } from '../common/api-error.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod, toOpenApi } from '../common/openapi.js';
import type { Page } from '../common/pagination.js';
import { validate, ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import { EXPORT_COLUMNS } from './terminal-csv.js';
import {
  createdTerminalView,
  createTerminalBody,
  credentialsView,
  IMPORT_MAX_ROWS,
  importJsonBody,
  importResultView,
  moveBody,
  updateTerminalBody,
  presenceEventsView,
  presenceQuery,
  providerHistoryView,
  snParam,
  telemetryQuery,
  telemetryView,
  terminalDetailView,
  terminalFilterQuery,
  terminalListQuery,
  terminalPage,
} from './terminal.dto.js';
import {
  TerminalService,
  type CredentialsView,
  type ImportResult,
  type PresenceEventsView,
  type ProviderHistoryView,
  type TelemetryView,
  type TerminalDetailView,
  type TerminalSummaryView,
} from './terminal.service.js';

type SnParam = z.output<typeof snParam>;

const CSV_COLUMNS_TEXT = 'sn,model,tid,mid,provider,lat,lon,city,region (header row required; only sn and model are mandatory; provider is a provider code)';

@FleetController('terminals', 'terminals')
export class TerminalController {
  constructor(@Inject(TerminalService) private readonly terminals: TerminalService) {}

  @Get()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Terminals in the caller\u2019s scope: filters, sort, keyset pagination' })
  @ApiOkZod(terminalPage)
  @ApiErrors(400, 403, 404)
  list(@Ctx() ctx: RequestContext, @ZodQuery(terminalListQuery) query: z.output<typeof terminalListQuery>): Promise<Page<TerminalSummaryView>> {
    return this.terminals.list(ctx, query);
  }

  @Get('export.csv')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({
    summary: 'The list as CSV (same filters and sort, every page), streamed',
    description: `Columns: ${EXPORT_COLUMNS.join(', ')}. Empty field = null. Text starting with = + - @ is prefixed with an apostrophe.`,
  })
  @ApiProduces('text/csv')
  @ApiResponse({ status: 200, description: 'CSV with a header row', content: { 'text/csv': { schema: { type: 'string' } } } })
  @ApiErrors(400, 403, 404)
  async exportCsv(
    @Ctx() ctx: RequestContext,
    @ZodQuery(terminalFilterQuery) query: z.output<typeof terminalFilterQuery>,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const chunks = await this.terminals.exportCsv(ctx, query);
    await reply
      .status(200)
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="terminals.csv"')
      .header('cache-control', 'no-store')
      .send(Readable.from(chunks, { objectMode: false }));
  }

  @Post()
  @Header('cache-control', 'no-store')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Register one terminal; its MQTT secret is returned once' })
  @ApiOkZod(createdTerminalView, 201, 'Created')
  @ApiErrors(400, 403, 404, 409)
  create(
    @Ctx() ctx: RequestContext,
    @ZodBody(createTerminalBody) body: z.output<typeof createTerminalBody>,
  ): Promise<{ terminal: TerminalDetailView; credentials: CredentialsView }> {
    return this.terminals.create(ctx, body);
  }

  @Post('import')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Register terminals from CSV; valid rows are kept, the others reported per row',
    description:
      `Body: \`text/csv\` with columns ${CSV_COLUMNS_TEXT}, or \`application/json\` \`{ "csv": "..." }\`. ` +
      `At most ${IMPORT_MAX_ROWS} rows. Rows without provider go to the caller\u2019s provider (provider keys) or the root (ops keys); ` +
      'a provider outside the caller\u2019s scope is reported as TERMINAL_UNKNOWN_PROVIDER, like an unknown one. ' +
      'An SN that already exists is a row error (TERMINAL_ALREADY_EXISTS) and changes nothing, so re-sending a file is safe. ' +
      'Status 200 even when rows failed.',
    // Documented here rather than with @Body(): each content type has its own shape.
    requestBody: {
      required: true,
      content: {
        'text/csv': { schema: { type: 'string', example: 'sn,model,tid,mid,provider,lat,lon\nP3000001,EP-T1,12345678,898000000000001,,31.23,121.47\n' } },
        'application/json': { schema: toOpenApi(importJsonBody, 'input') },
      },
    },
  })
  @ApiOkZod(importResultView)
  @ApiErrors(400, 403)
  importCsv(@Ctx() ctx: RequestContext, @Req() request: FastifyRequest): Promise<ImportResult> {
    const body: unknown = request.body;
    const csv = typeof body === 'string' ? body : validate(importJsonBody, body, 'body').csv;
    if (csv.trim() === '')
      throw new DomainException(ApiErrorCode.ValidationFailed, 'empty CSV', [{ field: 'body', message: 'a header row and at least one row' }]);
    return this.terminals.importCsv(ctx, csv);
  }

  @Get(':sn')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Registry fields, provider, latest state and presence' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async get(@Ctx() ctx: RequestContext, @ZodParams(snParam) { sn }: SnParam): Promise<TerminalDetailView> {
    return this.terminals.detail(ctx, sn);
  }

  @Get(':sn/telemetry')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Heartbeats in a time range: per-bucket aggregates, or raw heartbeats with raw=true' })
  @ApiOkZod(telemetryView)
  @ApiErrors(400, 403, 404)
  async telemetry(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: SnParam,
    @ZodQuery(telemetryQuery) query: z.output<typeof telemetryQuery>,
  ): Promise<TelemetryView> {
    return this.terminals.telemetry(ctx, sn, query);
  }

  @Get(':sn/presence')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Connect/disconnect history, newest first' })
  @ApiOkZod(presenceEventsView)
  @ApiErrors(400, 403, 404)
  async presence(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: SnParam,
    @ZodQuery(presenceQuery) query: z.output<typeof presenceQuery>,
  ): Promise<PresenceEventsView> {
    return this.terminals.presence(ctx, sn, query);
  }

  @Get(':sn/providers')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Ownership history (registration through the API and every move), newest first' })
  @ApiOkZod(providerHistoryView)
  @ApiErrors(400, 403, 404)
  async providers(@Ctx() ctx: RequestContext, @ZodParams(snParam) { sn }: SnParam): Promise<ProviderHistoryView> {
    return this.terminals.providerHistory(ctx, sn);
  }

  @Post(':sn/credentials/rotate')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'New MQTT secret, returned once; the old one stops working' })
  @ApiOkZod(credentialsView)
  @ApiErrors(400, 403, 404)
  async rotate(@Ctx() ctx: RequestContext, @ZodParams(snParam) { sn }: SnParam): Promise<CredentialsView> {
    return this.terminals.rotateCredentials(ctx, sn);
  }

  @Patch(':sn')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Update the terminal\u2019s city and/or region (null clears one); used by campaign targeting and list filters',
  })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async update(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: SnParam,
    @ZodBody(updateTerminalBody) body: z.output<typeof updateTerminalBody>,
  ): Promise<TerminalDetailView> {
    return this.terminals.update(ctx, sn, body);
  }

  @Post(':sn/disable')
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Refuse the terminal\u2019s MQTT connections and drop its live session (idempotent)' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async disable(@Ctx() ctx: RequestContext, @ZodParams(snParam) { sn }: SnParam): Promise<TerminalDetailView> {
    return this.terminals.setEnabled(ctx, sn, false);
  }

  @Post(':sn/enable')
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Accept the terminal\u2019s MQTT connections again (idempotent)' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async enable(@Ctx() ctx: RequestContext, @ZodParams(snParam) { sn }: SnParam): Promise<TerminalDetailView> {
    return this.terminals.setEnabled(ctx, sn, true);
  }

  @Post(':sn/move')
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsMove)
  @ApiOperation({ summary: 'Move to another provider; the terminal and the target must both be in the caller\u2019s scope' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async move(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: SnParam,
    @ZodBody(moveBody) { providerId }: z.output<typeof moveBody>,
  ): Promise<TerminalDetailView> {
    return this.terminals.move(ctx, sn, providerId);
  }
}
