import { JIT_SETTING } from '../database/jit-setting.js';
import { RENDER_SETTINGS } from './render-settings.js';
import { sqlLiteral } from './payload-sql.js';

/**
 * What finalisation pins for its own statement, as `[name, SQL value expression]`: the value
 * settings (a host callback may have changed them), enough
 * memory to aggregate a large bundle without spilling, primary-key probes instead of bitmap scans,
 * and no JIT (its row estimates for the temporary stage are guesses, and compiling a plan costed in
 * the millions took longer than running it).
 */
const PINS: ReadonlyArray<readonly [name: string, value: string]> = [
  ...RENDER_SETTINGS.map(([name, value]) => [name, sqlLiteral(value)] as const),
  [JIT_SETTING[0], sqlLiteral(JIT_SETTING[1])],
  ['enable_bitmapscan', `'off'`],
  [
    'work_mem',
    `(greatest(pg_size_bytes(current_setting('work_mem')), 64 * 1024 * 1024) / 1024)::text || 'kB'`,
  ],
];

/** The pinned settings' names. */
export const FINALIZE_PINNED = Object.freeze(PINS.map(([name]) => name));

/**
 * A JSON object of the current values of every pinned setting, to restore them after the
 * finalisation statement: deferred triggers of the host run at COMMIT and must see the host's
 * settings.
 */
export function priorSettingsSql(): string {
  return `pg_catalog.json_build_object(${PINS.map(([name]) => `'${name}', current_setting('${name}')`).join(', ')})`;
}

/** An array expression whose evaluation pins every setting for the rest of the transaction. */
export function pinSettingsSql(): string {
  return `ARRAY[${PINS.map(([name, value]) => `set_config('${name}', ${value}, true)`).join(', ')}]`;
}
