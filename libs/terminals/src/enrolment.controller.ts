import { ApiExcludeController } from '@nestjs/swagger';
import { BadRequestException, Body, Controller, Header, HttpCode, Inject, Post, Req, StandardSchemaValidationPipe, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { INTERNAL_HTTP_PATHS, type RegisterTerminalsResponse } from '#contracts';
import { AdminTokenGuard } from './admin-token.guard.js';
import { EnrolmentService } from './enrolment.service.js';
import { requestIds } from './request-ids.js';

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
        city: z.string().optional(),
        region: z.string().optional(),
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

/** Operator enrolment for provisioning tools (devices-sim, bench, factory tooling); audited like the fleet API. */
// Operator endpoints, documented in the README rather than the public API spec.
@ApiExcludeController()
@Controller()
@UseGuards(AdminTokenGuard)
export class EnrolmentController {
  constructor(@Inject(EnrolmentService) private readonly enrolment: EnrolmentService) {}

  @Post(INTERNAL_HTTP_PATHS.registerTerminals)
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  register(
    @Req() request: FastifyRequest,
    @Body({ schema: registerBody, pipes: [bodyPipe] }) body: z.output<typeof registerBody>,
  ): Promise<RegisterTerminalsResponse> {
    return this.enrolment.register(body.terminals, requestIds(request));
  }

  @Post(INTERNAL_HTTP_PATHS.rotateCredentials)
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  rotate(
    @Req() request: FastifyRequest,
    @Body({ schema: rotateBody, pipes: [bodyPipe] }) body: z.output<typeof rotateBody>,
  ): Promise<RegisterTerminalsResponse> {
    return this.enrolment.rotateCredentials(body.sns, requestIds(request));
  }
}
