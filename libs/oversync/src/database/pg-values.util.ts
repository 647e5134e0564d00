/** `pg` returns int8/numeric as strings unless a host changed the parsers; accept both. */
export function toInt(value: string | number | bigint | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value);
}

/** SQLSTATEs that mean "the transaction lost a race; running it again is safe". */
export const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01', '55P03']);

/** The SQLSTATE of a `pg` error, if any. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
