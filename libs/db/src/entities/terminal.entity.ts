import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const TerminalStatus = { Active: 'active', Disabled: 'disabled' } as const;
export type TerminalStatus = (typeof TerminalStatus)[keyof typeof TerminalStatus];

@Entity({ name: 'terminals' })
export class TerminalEntity {
  @PrimaryColumn({ type: 'text' })
  sn!: string;

  @Column({ type: 'text' })
  model!: string;

  @Column({ type: 'text', nullable: true })
  tid!: string | null;

  @Column({ type: 'text', nullable: true })
  mid!: string | null;

  @Column({ name: 'provider_id', type: 'uuid' })
  providerId!: string;

  @Column({ name: 'registered_lat', type: 'double precision', nullable: true })
  registeredLat!: number | null;

  @Column({ name: 'registered_lon', type: 'double precision', nullable: true })
  registeredLon!: number | null;

  @Column({ name: 'credential_hash', type: 'bytea', select: false })
  credentialHash!: Buffer;

  @Column({ name: 'credential_rotated_at', type: 'timestamptz' })
  credentialRotatedAt!: Date;

  @Column({ type: 'text' })
  status!: TerminalStatus;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
