import { Module } from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard.js';
import { EnrolmentController } from './enrolment.controller.js';
import { TerminalsModule } from './terminals.module.js';

@Module({ imports: [TerminalsModule], controllers: [EnrolmentController], providers: [AdminTokenGuard] })
export class EnrolmentModule {}
