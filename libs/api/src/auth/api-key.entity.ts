import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ProviderEntity } from '../providers/provider.entity.js';
import type { Role } from './roles.js';

/** An API key (migration 0002). The secret is stored only as an HMAC, never loaded unless asked for. */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  /** Public part of the token, used to find the row. */
  @Column({ type: 'text' })
  prefix!: string;

  @Column({ name: 'key_hash', type: 'bytea', select: false })
  keyHash!: Buffer;

  @Column({ type: 'text' })
  role!: Role;

  @Column({ name: 'provider_id', type: 'uuid', nullable: true })
  providerId!: string | null;

  /** The provider whose subtree a provider-role key acts on; joined for its path (scope). */
  @ManyToOne(() => ProviderEntity, { nullable: true })
  @JoinColumn({ name: 'provider_id' })
  provider?: ProviderEntity | null;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
