import { Readable } from 'node:stream';
import { applyDecorators, Body, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { ApiErrorCode, ApiException } from '../common/api-error.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiBodyZod, ApiErrors, ApiOkZod, ApiQueryZod, toOpenApi } from '../common/openapi.js';
import type { Page } from '../common/pagination.js';
import { validate } from '../common/zod-validation.js';
import { EXPORT_COLUMNS } from './terminal-csv.js';
import {
  createdTerminalView,
  createTerminalBody,
  credentialsView,
  IMPORT_MAX_ROWS,
  importJsonBody,
  importResultView,
  moveBody,
  presenceEventsView,
  presenceQuery,
  providerHistoryView,
  SN_PATTERN,
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

/** The `{sn}` path parameter (validated with snParam). */
const ApiSn = () => applyDecorators(ApiParam({ name: 'sn', description: 'Terminal serial number', schema: { type: 'string', pattern: SN_PATTERN.source } }));

const CSV_COLUMNS_TEXT = 'sn,model,tid,mid,provider,lat,lon (header row required; only sn and model are mandatory; provider is a provider code)';

@FleetController('terminals', 'terminals')
export class TerminalController {
  constructor(@Inject(TerminalService) private readonly terminals: TerminalService) {}

  @Get()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Terminals in the caller\u2019s scope: filters, sort, keyset pagination' })
  @ApiQueryZod(terminalListQuery)
  @ApiOkZod(terminalPage)
  @ApiErrors(400, 403, 404)
  list(@Ctx() ctx: RequestContext, @Query() query: unknown): Promise<Page<TerminalSummaryView>> {
    return this.terminals.list(ctx, validate(terminalListQuery, query, 'query'));
  }

  @Get('export.csv')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({
    summary: 'The list as CSV (same filters and sort, every page), streamed',
    description: `Columns: ${EXPORT_COLUMNS.join(', ')}. Empty field = null. Text starting with = + - @ is prefixed with an apostrophe.`,
  })
  @ApiQueryZod(terminalFilterQuery)
  @ApiProduces('text/csv')
  @ApiResponse({ status: 200, description: 'CSV with a header row', content: { 'text/csv': { schema: { type: 'string' } } } })
  @ApiErrors(400, 403, 404)
  async exportCsv(@Ctx() ctx: RequestContext, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    const chunks = await this.terminals.exportCsv(ctx, validate(terminalFilterQuery, query, 'query'));
    await reply
      .status(200)
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="terminals.csv"')
      .header('cache-control', 'no-store')
      .send(Readable.from(chunks, { objectMode: false }));
  }

  @Post()
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Register one terminal; its MQTT secret is returned once' })
  @ApiBodyZod(createTerminalBody)
  @ApiOkZod(createdTerminalView, 201, 'Created')
  @ApiErrors(400, 403, 404, 409)
  create(@Ctx() ctx: RequestContext, @Body() body: unknown): Promise<{ terminal: TerminalDetailView; credentials: CredentialsView }> {
    return this.terminals.create(ctx, validate(createTerminalBody, body));
  }

  @Post('import')
  @HttpCode(200)
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
    const csv = typeof body === 'string' ? body : validate(importJsonBody, body).csv;
    if (csv.trim() === '') throw new ApiException(ApiErrorCode.ValidationFailed, 'empty CSV', [{ field: 'body', message: 'a header row and at least one row' }]);
    return this.terminals.importCsv(ctx, csv);
  }

  @Get(':sn')
  @ApiSn()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Registry fields, provider, latest state and presence' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async get(@Ctx() ctx: RequestContext, @Param() params: unknown): Promise<TerminalDetailView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.detail(ctx, sn);
  }

  @Get(':sn/telemetry')
  @ApiSn()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Heartbeats in a time range: per-bucket aggregates, or raw heartbeats with raw=true' })
  @ApiQueryZod(telemetryQuery)
  @ApiOkZod(telemetryView)
  @ApiErrors(400, 403, 404)
  async telemetry(@Ctx() ctx: RequestContext, @Param() params: unknown, @Query() query: unknown): Promise<TelemetryView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.telemetry(ctx, sn, validate(telemetryQuery, query, 'query'));
  }

  @Get(':sn/presence')
  @ApiSn()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Connect/disconnect history, newest first' })
  @ApiQueryZod(presenceQuery)
  @ApiOkZod(presenceEventsView)
  @ApiErrors(400, 403, 404)
  async presence(@Ctx() ctx: RequestContext, @Param() params: unknown, @Query() query: unknown): Promise<PresenceEventsView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.presence(ctx, sn, validate(presenceQuery, query, 'query'));
  }

  @Get(':sn/providers')
  @ApiSn()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Ownership history (registration through the API and every move), newest first' })
  @ApiOkZod(providerHistoryView)
  @ApiErrors(400, 403, 404)
  async providers(@Ctx() ctx: RequestContext, @Param() params: unknown): Promise<ProviderHistoryView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.providerHistory(ctx, sn);
  }

  @Post(':sn/credentials/rotate')
  @ApiSn()
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'New MQTT secret, returned once; the old one stops working' })
  @ApiOkZod(credentialsView)
  @ApiErrors(400, 403, 404)
  async rotate(@Ctx() ctx: RequestContext, @Param() params: unknown): Promise<CredentialsView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.rotateCredentials(ctx, sn);
  }

  @Post(':sn/disable')
  @ApiSn()
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Refuse the terminal\u2019s MQTT connections and drop its live session (idempotent)' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async disable(@Ctx() ctx: RequestContext, @Param() params: unknown): Promise<TerminalDetailView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.setEnabled(ctx, sn, false);
  }

  @Post(':sn/enable')
  @ApiSn()
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Accept the terminal\u2019s MQTT connections again (idempotent)' })
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async enable(@Ctx() ctx: RequestContext, @Param() params: unknown): Promise<TerminalDetailView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.setEnabled(ctx, sn, true);
  }

  @Post(':sn/move')
  @ApiSn()
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsMove)
  @ApiOperation({ summary: 'Move to another provider; the terminal and the target must both be in the caller\u2019s scope' })
  @ApiBodyZod(moveBody)
  @ApiOkZod(terminalDetailView)
  @ApiErrors(400, 403, 404)
  async move(@Ctx() ctx: RequestContext, @Param() params: unknown, @Body() body: unknown): Promise<TerminalDetailView> {
    const { sn } = validate(snParam, params, 'params');
    return this.terminals.move(ctx, sn, validate(moveBody, body).providerId);
  }
}
