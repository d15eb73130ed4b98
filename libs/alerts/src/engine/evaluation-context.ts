import type { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AlertThresholds, VersionPolicy } from '../rules/rule.types.js';
import type { AlertEngineRepository, TerminalRow } from './alert-engine.repository.js';
import type { AlertRules } from './alert-rules.port.js';

const NO_POLICIES: readonly VersionPolicy[] = [];

/** The provider ids on a materialized path '/<root>/<child>/.../<id>/', root first. */
export function pathIds(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/**
 * Effective thresholds (by provider path) and version policies (by model) for one batch of
 * terminals: two queries, then merged once per distinct path.
 */
export class EvaluationContext {
  private readonly byPath = new Map<string, AlertThresholds>();

  private constructor(
    private readonly rules: AlertRules,
    private readonly settings: Map<string, unknown>,
    private readonly policiesByModel: Map<string, VersionPolicy[]>,
    private readonly logger: Logger,
  ) {}

  static async load(
    em: EntityManager,
    repo: AlertEngineRepository,
    rules: AlertRules,
    terminals: readonly TerminalRow[],
    logger: Logger,
  ): Promise<EvaluationContext> {
    const providerIds = new Set<string>();
    const models = new Set<string>();
    for (const t of terminals) {
      for (const id of pathIds(t.providerPath)) providerIds.add(id);
      models.add(t.facts.model);
      if (t.facts.latest) models.add(t.facts.latest.model);
    }
    const [settings, policies] = [await repo.settings(em, [...providerIds]), await repo.policies(em, [...models])];
    return new EvaluationContext(rules, settings, policies, logger);
  }

  thresholds(providerPath: string): AlertThresholds {
    let merged = this.byPath.get(providerPath);
    if (!merged) {
      const overrides = pathIds(providerPath)
        .map((id) => this.settings.get(id))
        .filter((s) => s !== undefined && s !== null);
      const result = this.rules.thresholds(overrides);
      // Settings are validated by the API; a row that no longer validates must not stop evaluation.
      if (result.skipped > 0) this.logger.warn(`alert settings on provider path ${providerPath}: ${result.skipped} invalid override(s) ignored`);
      merged = result.thresholds;
      this.byPath.set(providerPath, merged);
    }
    return merged;
  }

  /** Policies for the model the terminal reports (registry model when it has not reported yet). */
  policies(terminal: TerminalRow): readonly VersionPolicy[] {
    return this.policiesByModel.get(terminal.facts.latest?.model ?? terminal.facts.model) ?? NO_POLICIES;
  }
}
