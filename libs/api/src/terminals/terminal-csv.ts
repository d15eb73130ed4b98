import { terminalSummaryView } from './terminal.dto.js';
import type { TerminalSummaryView } from './terminal.service.js';

/** CSV export columns: exactly the list item's fields, in the list item's order. */
export const EXPORT_COLUMNS = Object.keys(terminalSummaryView.shape) as (keyof TerminalSummaryView)[];

/**
 * One CSV field (RFC 4180). null is an empty field. Text that a spreadsheet would run as a formula
 * (leading = + - @, tab or CR; firmware strings come from the devices) gets a leading apostrophe.
 */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export const csvHeader = (): string => `${EXPORT_COLUMNS.join(',')}\r\n`;

export function csvRows(items: readonly TerminalSummaryView[]): string {
  let out = '';
  for (const item of items) out += `${EXPORT_COLUMNS.map((c) => csvField(item[c])).join(',')}\r\n`;
  return out;
}
