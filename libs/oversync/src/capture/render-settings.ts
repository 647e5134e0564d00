/**
 * Session settings that change how PostgreSQL reads and prints values: time zone of `timestamptz`,
 * date order, shortest round-trip float digits (which `sync.js_number` relies on), `bytea` and
 * interval text, and literal backslashes in generated SQL. Statements that render payloads pin
 * them transaction-locally first, because a host's callback inside a scope write may have changed
 * any of them (a callback's `SET LOCAL extra_float_digits = 0` once made finalisation print
 * 0.30000000000000004 as 0.3, and `DateStyle = 'SQL, DMY'` changed range payloads).
 */
export const RENDER_SETTINGS: ReadonlyArray<readonly [name: string, value: string]> = Object.freeze([
  ['TimeZone', 'UTC'],
  ['DateStyle', 'ISO, MDY'],
  ['extra_float_digits', '1'],
  ['bytea_output', 'hex'],
  ['IntervalStyle', 'iso_8601'],
  ['standard_conforming_strings', 'on'],
]);

/** `set_config(…, true)` calls pinning {@link RENDER_SETTINGS}, as a comma-separated SQL select list. */
export function renderSettingsSql(): string {
  return RENDER_SETTINGS.map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ');
}
