import { ApiExcludeController } from '@nestjs/swagger';
import { BadRequestException, Body, Controller, Header, HttpCode, Inject, Post, StandardSchemaValidationPipe, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { INTERNAL_HTTP_PATHS, type RegisterTerminalsResponse } from '#contracts';
import { AdminTokenGuard } from './admin-token.guard.js';
import { TerminalRegistryService } from './terminal-registry.service.js';

const MAX_ROWS = 10_000;

const registerBody = z.object({
  terminals: z
    .array(
      z.object({
        sn: z.string(),
        model: z.string(),
        tid: z.string().optional(),
        mid: z.string().optional(),
        providerCode: z.string().optional(),
        registeredLat: z.number().optional(),
        registeredLon: z.number().optional(),
      }),
    )
    .min(1)
    .max(MAX_ROWS),
});
const rotateBody = z.object({ sns: z.array(z.string()).min(1).max(MAX_ROWS) });

/** Validates the body against the schema given to @Body(); the 400 names each field (operator tools print it). */
const bodyPipe = new StandardSchemaValidationPipe({
  exceptionFactory: (issues) =>
    new BadRequestException({
      code: 'VALIDATION_FAILED',
      message: 'request body is invalid',
      details: issues.slice(0, 20).map((i) => ({
        field: (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.'),
        message: i.message,
      })),
    }),
});

/** Operator enrolment for tools (devices-sim, bench) until the role-based fleet API exists. */
// Operator endpoints, documented in the README rather than the public API spec.
@ApiExcludeController()
@Controller()
@UseGuards(AdminTokenGuard)
export class EnrolmentController {
  constructor(@Inject(TerminalRegistryService) private readonly registry: TerminalRegistryService) {}

  @Post(INTERNAL_HTTP_PATHS.registerTerminals)
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  register(@Body({ schema: registerBody, pipes: [bodyPipe] }) body: z.output<typeof registerBody>): Promise<RegisterTerminalsResponse> {
    return this.registry.register(body.terminals);
  }

  @Post(INTERNAL_HTTP_PATHS.rotateCredentials)
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  rotate(@Body({ schema: rotateBody, pipes: [bodyPipe] }) body: z.output<typeof rotateBody>): Promise<RegisterTerminalsResponse> {
    return this.registry.rotateCredentials(body.sns);
  }
}
