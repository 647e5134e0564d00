/**
 * JIT compilation, pinned off by sync statements for the rest of their transaction. They are costed
 * from staged rows and whole scopes, so a large push, or a scope whose statistics are fresh,
 * crosses `jit_above_cost`; compiling the plan then takes far longer than running it (with JIT
 * forced on, each 1,000-row chunk of a push took 550 ms instead of 20, and a commit 1.2 s instead
 * of 0.25).
 */
export const JIT_SETTING = ['jit', 'off'] as const;

/** A `set_config` call pinning {@link JIT_SETTING} transaction-locally, for a SQL select list. */
export function jitOffSql(): string {
  return `set_config('${JIT_SETTING[0]}', '${JIT_SETTING[1]}', true)`;
}
