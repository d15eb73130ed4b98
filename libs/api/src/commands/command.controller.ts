import { Get, Header, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import type { Page } from '../common/pagination.js';
import { ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import { snParam } from '../terminals/terminal.dto.js';
import { CommandApiService } from './command-api.service.js';
import { commandIdParam, commandListQuery, commandPage, commandView, createCommandBody, type CommandView, type CreateCommandBody } from './command.dto.js';

@FleetController('terminals', 'commands')
export class TerminalCommandController {
  constructor(@Inject(CommandApiService) private readonly commands: CommandApiService) {}

  @Get(':sn/commands')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Commands of a terminal, newest first, each with its history (keyset pagination)' })
  @ApiOkZod(commandPage)
  @ApiErrors(400, 403, 404)
  list(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: z.output<typeof snParam>,
    @ZodQuery(commandListQuery) query: z.output<typeof commandListQuery>,
  ): Promise<Page<CommandView>> {
    return this.commands.list(ctx, sn, query);
  }

  @Post(':sn/commands')
  @Header('cache-control', 'no-store')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Send one command to a terminal (reboot, set_heartbeat_interval; ota.install: ops-admin only)',
    description:
      'The command is recorded (state queued) and published QoS 1 on pos/v1/{sn}/commands at once if the terminal is connected, ' +
      'otherwise when it reconnects; see docs/protocol.md for the states the terminal reports.',
  })
  @ApiOkZod(commandView, 201, 'Created')
  @ApiErrors(400, 403, 404)
  send(
    @Ctx() ctx: RequestContext,
    @ZodParams(snParam) { sn }: z.output<typeof snParam>,
    @ZodBody(createCommandBody) body: CreateCommandBody,
  ): Promise<CommandView> {
    return this.commands.send(ctx, sn, body);
  }
}

@FleetController('commands', 'commands')
export class CommandController {
  constructor(@Inject(CommandApiService) private readonly commands: CommandApiService) {}

  @Get(':id')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'One command with its history' })
  @ApiOkZod(commandView)
  @ApiErrors(400, 403, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(commandIdParam) { id }: z.output<typeof commandIdParam>): Promise<CommandView> {
    return this.commands.get(ctx, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Cancel a command that has not started installing',
    description:
      'Queued: withdrawn, never sent. Already sent: state cancelled with a note; later reports from the terminal are history only. 409 once installing or finished.',
  })
  @ApiOkZod(commandView)
  @ApiErrors(400, 403, 404, 409)
  cancel(@Ctx() ctx: RequestContext, @ZodParams(commandIdParam) { id }: z.output<typeof commandIdParam>): Promise<CommandView> {
    return this.commands.cancel(ctx, id);
  }
}
