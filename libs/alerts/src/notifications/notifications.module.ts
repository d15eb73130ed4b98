import { Module } from '@nestjs/common';
import { OutboxSignalModule } from '../outbox-signal.js';
import { ChannelSender } from './channel-sender.js';
import { DeliveryRepository } from './delivery.repository.js';
import { NotificationOutboxRepository } from './notification-outbox.repository.js';
import { NotificationsService } from './notifications.service.js';
import { RenewalDigestRepository } from './renewal-digest.repository.js';

/** Worker side of notifications: outbox fan-out, storm roll-ups, quiet hours, delivery, daily digest. */
@Module({
  imports: [OutboxSignalModule],
  providers: [NotificationOutboxRepository, DeliveryRepository, RenewalDigestRepository, ChannelSender, NotificationsService],
  exports: [NotificationsService],
})
export class NotificationsModule {}
