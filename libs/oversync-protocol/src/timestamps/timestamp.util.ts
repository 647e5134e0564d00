// RFC 3339 / PostgreSQL timestamptz text: `T`, `t` or space separator, any number of fraction
// digits, and a zone `Z`, `±HH`, `±HH:MM`, `±HHMM` or `±HH:MM:SS` (PostgreSQL's historic offsets).
const ZONED_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2})(?::?(\d{2}))?)?)$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** An instant with nanosecond resolution. */
interface Instant {
  /** Whole seconds since the Unix epoch. */
  readonly seconds: number;
  /** 0 … 999 999 999. */
  readonly nanos: number;
}

function parseInstant(text: string): Instant | null {
  const m = ZONED_TIMESTAMP.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offset = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11] ?? 0);
    const os = Number(m[12] ?? 0);
    if (oh > 23 || om > 59 || os > 59) return null;
    offset = (m[9] === '-' ? -1 : 1) * (oh * 3600 + om * 60 + os);
  }
  const nanos = Number((m[7] ?? '').slice(0, 9).padEnd(9, '0'));
  const seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  return { seconds, nanos };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1];
}

// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm); avoids
// Date.UTC, which maps years 0-99 to 1900-1999.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Compares two timestamp texts the way clients compare payload values: when both are zoned
 * RFC 3339 / PostgreSQL `timestamptz` texts (`2026-03-24T18:42:11.123456+00:00`, `…Z`, space
 * separator, `+00` offsets) they are equal iff they denote the same instant, compared exactly to
 * the nanosecond (so microseconds are never lost, unlike `Date`). Anything else, including naive
 * timestamps, is equal only when the texts are identical; a naive timestamp never equals a zoned one.
 *
 * @param a - first text.
 * @param b - second text.
 * @returns true when the two values are the same.
 */
export function sameInstant(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseInstant(a);
  if (x === null) return false;
  const y = parseInstant(b);
  return y !== null && x.seconds === y.seconds && x.nanos === y.nanos;
}

/**
 * Checks whether a text is a zoned timestamp {@link sameInstant} compares as an instant.
 *
 * @param text - the text to check.
 */
export function isZonedTimestamp(text: string): boolean {
  return parseInstant(text) !== null;
}

/**
 * Formats an instant like Go's `time.RFC3339Nano` in UTC, as the server writes `lease_expires_at`
 * and `expires_at`: `2026-03-24T18:42:11.123Z`, `2026-03-24T18:42:11Z` (trailing fraction zeros
 * trimmed, no fraction when zero).
 *
 * @param value - a `Date`, or zoned timestamp text (nanoseconds are kept).
 * @returns the RFC 3339 text.
 * @throws RangeError for an invalid date, unparseable text or a year outside 0000–9999.
 */
export function formatRfc3339Nano(value: Date | string): string {
  let instant: Instant | null;
  if (typeof value === 'string') {
    instant = parseInstant(value);
  } else {
    const ms = value.getTime();
    instant = Number.isFinite(ms)
      ? { seconds: Math.floor(ms / 1000), nanos: (ms - Math.floor(ms / 1000) * 1000) * 1_000_000 }
      : null;
  }
  if (instant === null) {
    throw new RangeError(
      `cannot format ${String(value)} as RFC 3339: expected a valid Date or zoned timestamp`,
    );
  }
  const date = new Date(instant.seconds * 1000);
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} is outside RFC 3339's 0000-9999`);
  let out =
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
  if (instant.nanos > 0) out += '.' + pad(instant.nanos, 9).replace(/0+$/, '');
  return out + 'Z';
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
