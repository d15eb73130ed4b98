import { describe, expect, it } from '@jest/globals';
import { expandGrafanaSql, expandMacros, interpolateVariables, intervalSeconds, rfc3339Nano, type GrafanaQueryContext } from './grafana-macros.js';

// The time range of Grafana's own macro tests (macros_test.go): 2018-04-12 18:00 to 18:05 UTC.
const from = new Date('2018-04-12T18:00:00Z');
const to = new Date('2018-04-12T18:05:00Z');
const plain: GrafanaQueryContext = { from, to, interval: '1m', timescaledb: false };
const timescale: GrafanaQueryContext = { ...plain, timescaledb: true };

describe('Grafana PostgreSQL macro expansion (as documented and tested by Grafana)', () => {
  it('$__time and $__timeEpoch alias the column as "time"', () => {
    expect(expandMacros('select $__time(time_column)', plain)).toBe('select time_column AS "time"');
    expect(expandMacros('select $__timeEpoch(time_column)', plain)).toBe('select extract(epoch from time_column) as "time"');
  });

  it('$__timeFilter is a BETWEEN over RFC 3339 UTC instants; $__timeFrom/$__timeTo are quoted instants', () => {
    expect(expandMacros('WHERE $__timeFilter(time_column)', plain)).toBe("WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'");
    expect(expandMacros('select $__timeFrom()', plain)).toBe("select '2018-04-12T18:00:00Z'");
    expect(expandMacros('select $__timeTo()', plain)).toBe("select '2018-04-12T18:05:00Z'");
  });

  it('keeps fractional seconds the way Go prints them (RFC3339Nano)', () => {
    expect(rfc3339Nano(new Date('1960-02-01T07:00:00.500Z'))).toBe('1960-02-01T07:00:00.5Z');
    expect(rfc3339Nano(new Date('2018-04-12T18:00:00.120Z'))).toBe('2018-04-12T18:00:00.12Z');
  });

  it('$__timeGroup floors epoch seconds on plain PostgreSQL, with or without spaces and quotes', () => {
    expect(expandMacros("SELECT $__timeGroup(time_column,'5m')", plain)).toBe('SELECT floor(extract(epoch from time_column)/300)*300');
    expect(expandMacros("$__timeGroup(time_column , '5m')", plain)).toBe('floor(extract(epoch from time_column)/300)*300');
    expect(expandMacros("SELECT $__timeGroupAlias(time_column,'5m')", plain)).toBe('SELECT floor(extract(epoch from time_column)/300)*300 AS "time"');
  });

  it('$__timeGroup followed by a comma is the pre-5.3 aliased form', () => {
    expect(expandMacros("SELECT $__timeGroup(time_column,'5m'), value", plain)).toBe('SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value');
    expect(expandMacros("SELECT $__timeGroup(time_column,'5m') as time, value", plain)).toBe(
      'SELECT floor(extract(epoch from time_column)/300)*300 as time, value',
    );
  });

  it('$__timeGroup is time_bucket with the TimescaleDB option on', () => {
    expect(expandMacros("GROUP BY $__timeGroup(time_column,'5m')", timescale)).toBe("GROUP BY time_bucket('300.000s',time_column)");
    expect(expandMacros("GROUP BY $__timeGroup(time_column , '12d')", timescale)).toBe("GROUP BY time_bucket('1036800.000s',time_column)");
    expect(expandMacros("GROUP BY $__timeGroup(time_column , '20ms')", timescale)).toBe("GROUP BY time_bucket('0.020s',time_column)");
  });

  it('$__unixEpochFilter compares epoch seconds', () => {
    expect(expandMacros('select $__unixEpochFilter(time)', plain)).toBe(`select time >= ${from.getTime() / 1000} AND time <= ${to.getTime() / 1000}`);
  });

  it('refuses unknown macros and a $__timeGroup without interval, as Grafana does', () => {
    expect(() => expandMacros('select $__nope(x)', plain)).toThrow(/unknown macro/);
    expect(() => expandMacros('select $__timeGroup(x)', plain)).toThrow(/interval/);
  });

  it('parses Grafana intervals', () => {
    expect([
      intervalSeconds('300ms'),
      intervalSeconds('30s'),
      intervalSeconds('5m'),
      intervalSeconds('1h'),
      intervalSeconds('1d'),
      intervalSeconds('1w'),
    ]).toStrictEqual([0.3, 30, 300, 3600, 86_400, 604_800]);
    expect(() => intervalSeconds('5 minutes')).toThrow(/cannot parse/);
  });
});

describe('Grafana template variables (the frontend step)', () => {
  const ctx: GrafanaQueryContext = {
    ...plain,
    interval: '5m',
    variables: { provider: 'p-1', model: ['EP-T1', "O'Brien"], sn: 'P300', campaign: 'c-1' },
    multiVariables: ['campaign'],
  };

  it('$__interval and $__interval_ms', () => {
    expect(interpolateVariables("'$__interval'::interval, $__interval_ms", ctx)).toBe("'5m'::interval, 300000");
  });

  it('a single value is raw by default; multi-value and All selections are quoted, escaped lists', () => {
    expect(interpolateVariables("id = '$provider'", ctx)).toBe("id = 'p-1'");
    expect(interpolateVariables('model IN ($model)', ctx)).toBe("model IN ('EP-T1','O''Brien')");
    expect(interpolateVariables('id IN ($campaign)', ctx)).toBe("id IN ('c-1')");
  });

  it('${var:sqlstring} quotes and escapes every value; ${var}, [[var]] and :raw/:csv are documented forms', () => {
    expect(interpolateVariables('${sn:sqlstring}', ctx)).toBe("'P300'");
    expect(interpolateVariables('${model:sqlstring}', ctx)).toBe("'EP-T1','O''Brien'");
    expect(interpolateVariables('${sn} [[sn]] ${model:csv} ${model:raw}', ctx)).toBe("P300 P300 EP-T1,O'Brien EP-T1,O'Brien");
  });

  it('leaves macros to the backend and fails on an unset variable', () => {
    expect(interpolateVariables('$__timeFilter(time)', ctx)).toBe('$__timeFilter(time)');
    expect(() => interpolateVariables('$missing', ctx)).toThrow(/no value/);
  });

  it('runs both steps in order: a variable inside a macro argument is replaced first', () => {
    expect(expandGrafanaSql('SELECT $__timeGroupAlias(time, $__interval) FROM t WHERE $__timeFilter(time)', ctx)).toBe(
      "SELECT floor(extract(epoch from time)/300)*300 AS \"time\" FROM t WHERE time BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
    );
  });
});
