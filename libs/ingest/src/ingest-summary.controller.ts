import { ApiExcludeController } from '@nestjs/swagger';
import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { INTERNAL_HTTP_PATHS, type IngestSummary } from '#contracts';
import { AdminTokenGuard } from '#terminals';
import { IngestSummaryRepository } from './ingest-summary.repository.js';

/** A quick look at what has landed, for operators and the README's first-run check. */
// Operator endpoints, documented in the README rather than the public API spec.
@ApiExcludeController()
@Controller()
@UseGuards(AdminTokenGuard)
export class IngestSummaryController {
  constructor(@Inject(IngestSummaryRepository) private readonly summaries: IngestSummaryRepository) {}

  @Get(INTERNAL_HTTP_PATHS.ingestSummary)
  summary(): Promise<IngestSummary> {
    return this.summaries.summary();
  }
}
