import { Injectable, Module } from '@nestjs/common';

/**
 * In-process wake-up from the alert engine to the notifier: the engine signals after committing
 * alert transitions, so a notifier in the same process fans them out at once instead of at its next
 * poll (the poll stays, for events written by other processes). One instance per app: both
 * modules import OutboxSignalModule.
 */
@Injectable()
export class OutboxSignal {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

@Module({ providers: [OutboxSignal], exports: [OutboxSignal] })
export class OutboxSignalModule {}
