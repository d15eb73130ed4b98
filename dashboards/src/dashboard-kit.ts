import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { type Dashboard, QueryVariableBuilder, TextBoxVariableBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder as PrometheusQueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';

/** The provisioned datasources (dashboards/provisioning/datasources/fleet.yaml): fixed uids. */
export const POSTGRES: DataSourceRef = { type: 'grafana-postgresql-datasource', uid: 'fleet-postgres' };
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: 'fleet-prometheus' };

export type SqlFormat = 'table' | 'time_series';

/** One SQL statement of a panel (or of a variable), with the columns its panel reads. */
export interface PanelQuery {
  dashboard: string;
  /** Panel title, or `variable <name>`. */
  panel: string;
  refId: string;
  sql: string;
  format: SqlFormat;
  columns: string[];
}

/** A PostgreSQL target in code mode. The foundation SDK has no builder for this datasource. */
class SqlTarget implements cog.Builder<cog.Dataquery> {
  constructor(private readonly query: PanelQuery) {}

  build(): cog.Dataquery {
    const target = {
      refId: this.query.refId,
      datasource: POSTGRES,
      editorMode: 'code',
      format: this.query.format,
      rawQuery: true,
      rawSql: this.query.sql,
      _implementsDataqueryVariant(): void {},
    };
    return target;
  }
}

export interface BuiltDashboard {
  uid: string;
  /** File name under dashboards/generated. */
  file: string;
  dashboard: Dashboard;
  /** Every SQL statement of the dashboard (panels and variables): the query test runs each. */
  queries: PanelQuery[];
  /** Every PromQL expression of the dashboard. */
  promql: string[];
}

/** Collects a dashboard's queries while its panels are built. */
export class QueryCollector {
  readonly queries: PanelQuery[] = [];
  readonly promql: string[] = [];
  private nextPanelId = 1;

  constructor(readonly dashboard: string) {}

  /** Stable panel ids in declaration order. */
  panelId(): number {
    return this.nextPanelId++;
  }

  sql(panel: string, sql: string, format: SqlFormat, columns: string[], refId = 'A'): cog.Builder<cog.Dataquery> {
    const query: PanelQuery = { dashboard: this.dashboard, panel, refId, sql: dedent(sql), format, columns };
    this.queries.push(query);
    return new SqlTarget(query);
  }

  prom(expr: string, legend: string, refId: string): cog.Builder<cog.Dataquery> {
    this.promql.push(expr);
    return new PrometheusQueryBuilder().expr(expr).legendFormat(legend).refId(refId).range().datasource(PROMETHEUS);
  }

  /** A query variable over PostgreSQL; its statement is tested like a panel's. */
  sqlVariable(name: string, label: string, sql: string, columns: string[]): QueryVariableBuilder {
    const text = dedent(sql);
    this.queries.push({ dashboard: this.dashboard, panel: `variable ${name}`, refId: name, sql: text, format: 'table', columns });
    return new QueryVariableBuilder(name)
      .label(label)
      .datasource(POSTGRES)
      .query(text)
      .definition(text)
      .refresh(VariableRefresh.OnDashboardLoad)
      .sort(VariableSort.Disabled);
  }
}

/** Trims the common indentation of template literals so the JSON holds readable SQL. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').replace(/\s+$/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/**
 * Provider (a subtree of the provider tree) and model: every fleet dashboard has both. The provider
 * list is the tree in path order, indented by depth; the root (the acquirer: whole fleet) comes first.
 */
export function fleetVariables(q: QueryCollector): cog.Builder<import('@grafana/grafana-foundation-sdk/dashboard').VariableModel>[] {
  const provider = q
    .sqlVariable(
      'provider',
      'Provider (subtree)',
      `
      SELECT repeat('· ', cardinality(string_to_array(trim(both '/' from path), '/')) - 1) || name AS __text, id::text AS __value
      FROM providers
      ORDER BY path`,
      ['__text', '__value'],
    )
    .multi(false)
    .includeAll(false)
    .allowCustomValue(false);
  const model = q
    .sqlVariable('model', 'Model', `SELECT DISTINCT model AS __text, model AS __value FROM terminals ORDER BY 1`, ['__text', '__value'])
    .multi(true)
    .includeAll(true)
    .allowCustomValue(false)
    .current({ text: 'All', value: '$__all' });
  return [provider, model];
}

/** Variables a SQL panel may use with multi-value semantics (quoted lists). */
export const MULTI_VARIABLES = ['model', 'campaign'] as const;

/**
 * Terminal `alias` (a terminals row) is in the chosen provider's subtree and of a chosen model.
 * providers.path is a materialized path: the subtree is one prefix match on providers_path_idx.
 */
export function terminalScope(alias = 't'): string {
  return `${alias}.provider_id IN (SELECT id FROM providers WHERE path LIKE (SELECT path FROM providers WHERE id = \${provider:sqlstring}) || '%')
  AND ${alias}.model IN (\${model:sqlstring})`;
}

/** The chosen provider's subtree, for rows that carry a provider id but no terminal. */
export function providerScope(column: string): string {
  return `${column} IN (SELECT id FROM providers WHERE path LIKE (SELECT path FROM providers WHERE id = \${provider:sqlstring}) || '%')`;
}

export function snVariable(): TextBoxVariableBuilder {
  return new TextBoxVariableBuilder('sn').label('Terminal SN').current({ text: '', value: '' });
}

/** Longest range served from 5-minute fleet rollups; beyond it the hourly ones answer. */
export const FIVE_MINUTE_TIER_MAX = "interval '2 days'";

/**
 * The same rows from the source that suits the dashboard's range: each tier is a
 * SELECT ... FROM relation ... WHERE ... and the longest range it serves (the last: any longer range).
 * Every branch stays in the statement; PostgreSQL skips those whose constant range condition is
 * false (a one-time filter), so only one relation is read.
 */
export function tiered(tiers: { select: string; upTo?: string }[]): string {
  const span = `$__timeTo()::timestamptz - $__timeFrom()::timestamptz`;
  return tiers
    .map((tier, i) => {
      const conditions = [...(i > 0 ? [`${span} > ${tiers[i - 1].upTo}`] : []), ...(tier.upTo ? [`${span} <= ${tier.upTo}`] : [])];
      return `${tier.select}\n    AND ${conditions.join(' AND ')}`;
    })
    .join('\n  UNION ALL\n  ');
}

/** Fleet rollup rows: 5-minute buckets up to FIVE_MINUTE_TIER_MAX, hourly beyond. */
export function rollupTiers(fine: string, coarse: string, branch: (relation: string) => string): string {
  return tiered([{ select: branch(fine), upTo: FIVE_MINUTE_TIER_MAX }, { select: branch(coarse) }]);
}
