import { Injectable } from '@nestjs/common';

export interface HealthCheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

export type HealthCheck = () => Promise<HealthCheckResult>;

/** Features register readiness checks; /health/ready reports all of them. */
@Injectable()
export class HealthService {
  private readonly checks = new Map<string, HealthCheck>();

  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  async ready(timeoutMs = 2_000): Promise<{ ok: boolean; checks: HealthCheckResult[] }> {
    const results = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<HealthCheckResult>((resolve) => {
          timer = setTimeout(() => resolve({ name, ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
        });
        try {
          return await Promise.race([check().catch((err: unknown) => ({ name, ok: false, detail: String(err) })), timeout]);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return { ok: results.every((r) => r.ok), checks: results };
  }
}
