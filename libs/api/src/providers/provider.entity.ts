import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * A node of the provider tree. Maps the columns of migrations 0001 and 0002; constraints, indexes
 * and defaults live there (synchronize is off).
 */
@Entity({ name: 'providers' })
export class ProviderEntity {
  /** Minted by the app on insert because `path` embeds it (the SQL default serves SQL-side inserts). */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'parent_id', type: 'uuid', nullable: true })
  parentId!: string | null;

  @Column({ type: 'text' })
  code!: string;

  @Column({ type: 'text' })
  name!: string;

  /** Materialized path '/<root id>/…/<own id>/': a subtree is one indexed prefix match. */
  @Column({ type: 'text' })
  path!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
