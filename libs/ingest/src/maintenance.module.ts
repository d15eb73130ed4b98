import { Module } from '@nestjs/common';
import { DeadLetterRepository } from './dead-letter.repository.js';
import { MaintenanceService } from './maintenance.service.js';

@Module({ providers: [DeadLetterRepository, MaintenanceService], exports: [MaintenanceService] })
export class MaintenanceModule {}
