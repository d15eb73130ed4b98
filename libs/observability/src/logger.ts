import type { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(options: { level: string; name: string }): Logger {
  return pino({ name: options.name, level: options.level, base: { service: options.name } });
}

/** Routes NestJS framework logs into the same structured pino stream. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  private ctx(optionalParams: unknown[]): { context?: string } {
    const last = optionalParams[optionalParams.length - 1];
    return typeof last === 'string' ? { context: last } : {};
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.info(this.ctx(optionalParams), String(message));
  }
  error(message: unknown, ...optionalParams: unknown[]): void {
    const stack = optionalParams.find((p) => typeof p === 'string' && p.includes('\n    at '));
    this.logger.error({ ...this.ctx(optionalParams), stack }, String(message));
  }
  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.warn(this.ctx(optionalParams), String(message));
  }
  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.debug(this.ctx(optionalParams), String(message));
  }
  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.trace(this.ctx(optionalParams), String(message));
  }
}

export const LOGGER = Symbol('LOGGER');
