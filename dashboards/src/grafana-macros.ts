/**
 * What Grafana does to a PostgreSQL panel's SQL before it reaches the database, so tests and the
 * benchmark can run the exact statements: first the frontend replaces template variables
 * ($var, ${var}, ${var:format}, [[var]], $__interval, $__interval_ms), then the datasource backend
 * expands macros ($__timeFilter(col), $__timeGroupAlias(col, 5m), ...). The expansions follow
 * Grafana's PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go) and the
 * documented variable formats; grafana-macros.spec.ts pins them to Grafana's documented examples.
 */

export interface GrafanaQueryContext {
  from: Date;
  to: Date;
  /** $__interval as Grafana renders it ('30s', '5m', '1h'). */
  interval: string;
  /** The datasource's TimescaleDB switch: $__timeGroup becomes time_bucket(). */
  timescaledb: boolean;
  /** Template variables. An array is a multi-value (or All) selection. */
  variables?: Record<string, string | string[]>;
  /** Variables defined as multi-value or with All: a single value is quoted like a list. */
  multiVariables?: readonly string[];
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** Grafana's interval syntax ('5m', '1h', '300ms', '2d'); a bare number is seconds. */
export function intervalSeconds(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)?$/.exec(text.trim());
  if (!match) throw new Error(`cannot parse interval ${JSON.stringify(text)}`);
  return Number(match[1]) * UNIT_SECONDS[match[2] ?? 's'];
}

/** Go's RFC3339Nano in UTC: no fractional part when it is zero, trailing zeros dropped. */
export function rfc3339Nano(date: Date): string {
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_m, digits: string) => (digits ? `.${digits}Z` : 'Z'));
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function formatVariable(name: string, value: string | string[], format: string | undefined, multi: boolean): string {
  const values = Array.isArray(value) ? value : [value];
  switch (format) {
    case undefined:
      // The SQL datasources' default: multi-value and All selections are quoted lists, a single value is raw.
      return Array.isArray(value) || multi ? values.map(quoteLiteral).join(',') : values[0];
    case 'sqlstring':
    case 'singlequote':
      return values.map(quoteLiteral).join(',');
    case 'doublequote':
      return values.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',');
    case 'csv':
    case 'raw':
      return values.join(',');
    default:
      throw new Error(`variable ${name}: format ${format} is not supported by the expander`);
  }
}

/** Step 1, the frontend: template variables and $__interval. */
export function interpolateVariables(sql: string, ctx: GrafanaQueryContext): string {
  const vars = ctx.variables ?? {};
  const multi = new Set(ctx.multiVariables ?? []);
  const intervalMs = Math.round(intervalSeconds(ctx.interval) * 1000);
  return sql.replace(
    /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]/g,
    (whole, plain?: string, braced?: string, bracedFmt?: string, old?: string, oldFmt?: string) => {
      const name = plain ?? braced ?? old ?? '';
      const format = bracedFmt ?? oldFmt;
      if (name === '__interval') return ctx.interval;
      if (name === '__interval_ms') return String(intervalMs);
      // Macros ($__timeFilter(...)) are the backend's: left for step 2.
      if (name.startsWith('__')) return whole;
      const value = vars[name];
      if (value === undefined) throw new Error(`variable $${name} has no value`);
      return formatVariable(name, value, format, multi.has(name));
    },
  );
}

function timeGroup(args: string[], ctx: GrafanaQueryContext): string {
  if (args.length < 2) throw new Error('$__timeGroup needs a time column and an interval');
  const seconds = intervalSeconds(args[1].replace(/^'|'$/g, ''));
  if (ctx.timescaledb) return `time_bucket('${seconds.toFixed(3)}s',${args[0]})`;
  return `floor(extract(epoch from ${args[0]})/${seconds})*${seconds}`;
}

function evaluateMacro(name: string, args: string[], ctx: GrafanaQueryContext): string {
  const needColumn = () => {
    if (!args[0]) throw new Error(`missing time column argument for macro ${name}`);
    return args[0];
  };
  switch (name) {
    case '__time':
      return `${needColumn()} AS "time"`;
    case '__timeEpoch':
      return `extract(epoch from ${needColumn()}) as "time"`;
    case '__timeFilter':
      return `${needColumn()} BETWEEN '${rfc3339Nano(ctx.from)}' AND '${rfc3339Nano(ctx.to)}'`;
    case '__timeFrom':
      return `'${rfc3339Nano(ctx.from)}'`;
    case '__timeTo':
      return `'${rfc3339Nano(ctx.to)}'`;
    case '__timeGroup':
      return timeGroup(args, ctx);
    case '__timeGroupAlias':
      return `${timeGroup(args, ctx)} AS "time"`;
    case '__unixEpochFilter': {
      const column = needColumn();
      return `${column} >= ${Math.floor(ctx.from.getTime() / 1000)} AND ${column} <= ${Math.floor(ctx.to.getTime() / 1000)}`;
    }
    default:
      throw new Error(`unknown macro "${name}"`);
  }
}

/** Step 2, the datasource backend: the same pattern as Grafana's engine (arguments cannot contain ')'). */
export function expandMacros(sql: string, ctx: GrafanaQueryContext): string {
  return sql.replace(/\$([_a-zA-Z0-9]+)\(([^)]*)\)/g, (whole: string, name: string, rawArgs: string, offset: number) => {
    let macro = name;
    // Grafana before 5.3: "$__timeGroup(col,'5m')," meant the aliased form; the engine still honours it.
    if (macro === '__timeGroup' && sql[offset + whole.length] === ',') macro = '__timeGroupAlias';
    const args = rawArgs.split(',').map((a) => a.trim());
    return evaluateMacro(macro, args, ctx);
  });
}

/** Both steps, in Grafana's order. */
export function expandGrafanaSql(sql: string, ctx: GrafanaQueryContext): string {
  return expandMacros(interpolateVariables(sql, ctx), ctx);
}
