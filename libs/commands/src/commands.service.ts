import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap } from '@nestjs/common';
import { commandParamsSchemas, DomainException, type CommandType } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { COMMAND_CLOCK, type CommandClock } from './command-clock.js';
import { COMMAND_DISPATCH, type CommandDispatchPort } from './command-dispatch.port.js';
import { CANCELLABLE_STATES } from './command-state.js';
import { CommandsRepository, type CommandRow, type CommandTimeouts } from './commands.repository.js';

export const CommandErrorCode = {
  InvalidParams: 'COMMAND_INVALID_PARAMS',
  NotCancellable: 'COMMAND_NOT_CANCELLABLE',
} as const;
export type CommandErrorCode = (typeof CommandErrorCode)[keyof typeof CommandErrorCode];

export interface CreateCommandInput {
  sn: string;
  type: CommandType;
  params: unknown;
  /** Lifetime; the configured default when absent. */
  ttlMs?: number;
  campaignId?: string | null;
  createdBy: string | null;
}

export function commandTimeouts(config: AppConfig): CommandTimeouts {
  return {
    resendAfterMs: config.commands.resendAfterMs,
    maxAttempts: config.commands.maxAttempts,
    stepTimeoutMs: config.commands.stepTimeoutMs,
    // Half a download URL's life: a deferred terminal always holds a URL with at least half left.
    urlRefreshAfterMs: (config.ota.downloadUrlTtlS * 1000) / 2,
  };
}

/**
 * Creates and cancels commands (the API and, later, campaigns). A created command is durable first
 * (the row), then announced: NOTIFY to every gateway where the database has real sessions, and the
 * gateway of this process directly. Whatever is missed is caught on reconnect and by the sweep.
 */
@Injectable()
export class CommandsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Commands');
  private notify = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CommandsRepository) private readonly repo: CommandsRepository,
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
    @Optional() @Inject(COMMAND_DISPATCH) private readonly local?: CommandDispatchPort,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.notify = await resolveNotify(this.config, this.repo);
    this.logger.log(`command notifications: ${this.notify ? 'LISTEN/NOTIFY' : 'in-process dispatch and sweep only'}`);
  }

  async create(input: CreateCommandInput): Promise<CommandRow> {
    const parsed = commandParamsSchemas[input.type].safeParse(input.params);
    if (!parsed.success) {
      const details = parsed.error.issues.slice(0, 10).map((i) => ({ field: ['body', 'params', ...i.path.map(String)].join('.'), message: i.message }));
      throw new DomainException(CommandErrorCode.InvalidParams, `invalid params for ${input.type}`, details);
    }
    const now = this.clock.now();
    const row = await this.repo.insert(
      {
        id: randomUUID(),
        sn: input.sn,
        type: input.type,
        payload: parsed.data,
        createdAt: now,
        expiresAt: new Date(now.getTime() + (input.ttlMs ?? this.config.commands.defaultTtlMs)),
        campaignId: input.campaignId ?? null,
        createdBy: input.createdBy,
      },
      this.notify,
    );
    this.local?.created(row.id, row.sn);
    return row;
  }

  /**
   * Cancels a command that has not started installing. Never sent: withdrawn. Already sent: the
   * row says cancelled with a note; a terminal that still reports on it is recorded, not obeyed.
   */
  async cancel(row: CommandRow, actor: string): Promise<CommandRow> {
    const done = await this.repo.cancel(row.id, this.clock.now(), actor, CANCELLABLE_STATES);
    if (!done) throw new DomainException(CommandErrorCode.NotCancellable, `command ${row.id} can no longer be cancelled`);
    return done;
  }
}

/** auto: NOTIFY needs a second session for LISTEN, which PGlite (one backend session) cannot give. */
export async function resolveNotify(config: AppConfig, repo: CommandsRepository): Promise<boolean> {
  if (config.commands.notify !== 'auto') return config.commands.notify === 'on';
  if (config.database.url === null) return false;
  return !(await repo.isPglite());
}
