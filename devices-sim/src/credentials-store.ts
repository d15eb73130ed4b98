/**
 * Local store of the per-terminal MQTT secrets the gateway issued. Secrets are shown once by the backend,
 * so the file is written after every enrolment batch (atomically, mode 0600).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { TerminalCredentials } from '#contracts';

const credentialSchema = z.object({
  sn: z.string().min(1),
  username: z.string().min(1).optional(),
  secret: z.string().min(1),
});

const fileSchema = z.object({
  version: z.literal(1),
  seed: z.string().optional(),
  snPrefix: z.string().optional(),
  updatedAt: z.string().optional(),
  credentials: z.array(credentialSchema),
});
/** A bare array is accepted for hand-written files. */
const bareSchema = z.array(credentialSchema);

export interface CredentialsMeta {
  /** Seed and SN prefix the terminals were enrolled with (profiles sent at registration depend on them). */
  seed?: string;
  snPrefix?: string;
}

export class CredentialsStore {
  private readonly bySn = new Map<string, TerminalCredentials>();

  constructor(
    readonly path: string,
    public meta: CredentialsMeta = {},
  ) {}

  static async load(path: string): Promise<CredentialsStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new CredentialsStore(path);
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(`${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    const parsed = Array.isArray(raw) ? bareSchema.safeParse(raw) : fileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${path}: unexpected format at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    const data = parsed.data;
    const list = Array.isArray(data) ? data : data.credentials;
    const store = new CredentialsStore(path, Array.isArray(data) ? {} : { seed: data.seed, snPrefix: data.snPrefix });
    for (const c of list) store.set({ sn: c.sn, username: c.username ?? c.sn, secret: c.secret });
    return store;
  }

  get size(): number {
    return this.bySn.size;
  }

  get(sn: string): TerminalCredentials | undefined {
    return this.bySn.get(sn);
  }

  has(sn: string): boolean {
    return this.bySn.has(sn);
  }

  set(credentials: TerminalCredentials): void {
    this.bySn.set(credentials.sn, credentials);
  }

  async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const body = {
      version: 1 as const,
      ...this.meta,
      updatedAt: new Date().toISOString(),
      credentials: [...this.bySn.values()].sort((a, b) => a.sn.localeCompare(b.sn)),
    };
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
