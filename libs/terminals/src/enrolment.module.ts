import { Module } from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard.js';
import { EnrolmentController } from './enrolment.controller.js';
import { EnrolmentService } from './enrolment.service.js';
import { TerminalsModule } from './terminals.module.js';

@Module({ imports: [TerminalsModule], controllers: [EnrolmentController], providers: [AdminTokenGuard, EnrolmentService] })
export class EnrolmentModule {}
