import { formatRfc3339Nano, isZonedTimestamp, sameInstant } from './timestamp.util.js';

describe('sameInstant', () => {
  it.each([
    ['PostgreSQL +00:00 vs Z', '2026-03-24T18:42:11.123456+00:00', '2026-03-24T18:42:11.123456Z'],
    ['different offsets', '2026-03-24T20:42:11.5+02:00', '2026-03-24T18:42:11.500Z'],
    ['negative offset across midnight', '2026-03-23T23:30:00-05:00', '2026-03-24T04:30:00Z'],
    ['space separator and short offset', '2026-03-24 18:42:11.123456+00', '2026-03-24T18:42:11.123456Z'],
    ['compact offset', '2026-03-24T18:42:11+0000', '2026-03-24T18:42:11Z'],
    ['trailing zeros', '2026-03-24T18:42:11.100000Z', '2026-03-24T18:42:11.1Z'],
    ['no fraction vs zero fraction', '2026-03-24T18:42:11Z', '2026-03-24T18:42:11.000+00:00'],
    ['second-precision offset', '1900-01-01T00:00:00+00:09:21', '1899-12-31T23:50:39Z'],
    ['leap day', '2024-02-29T12:00:00+12:00', '2024-02-29T00:00:00Z'],
    ['years below 100', '0050-06-01T00:00:00Z', '0050-06-01T01:00:00+01:00'],
    ['nanoseconds', '2026-03-24T18:42:11.123456789Z', '2026-03-24T19:42:11.123456789+01:00'],
  ])('equal: %s', (_name, a, b) => {
    expect(sameInstant(a, b)).toBe(true);
    expect(sameInstant(b, a)).toBe(true);
  });

  it.each([
    ['one microsecond apart', '2026-03-24T18:42:11.123456Z', '2026-03-24T18:42:11.123457Z'],
    ['one nanosecond apart', '2026-03-24T18:42:11.123456789Z', '2026-03-24T18:42:11.123456788Z'],
    ['same wall clock, different offset', '2026-03-24T18:42:11+01:00', '2026-03-24T18:42:11Z'],
    ['naive vs zoned', '2026-03-24T18:42:11', '2026-03-24T18:42:11Z'],
    ['naive vs naive, different text', '2026-03-24T18:42:11', '2026-03-24 18:42:11'],
    ['date only', '2026-03-24', '2026-03-24T00:00:00Z'],
    ['invalid date', '2026-02-30T00:00:00Z', '2026-03-02T00:00:00Z'],
    ['not a timestamp', 'hello', 'world'],
  ])('different: %s', (_name, a, b) => {
    expect(sameInstant(a, b)).toBe(false);
  });

  it('treats identical texts as equal even when they are not timestamps', () => {
    expect(sameInstant('2026-03-24T18:42:11', '2026-03-24T18:42:11')).toBe(true);
    expect(sameInstant('x', 'x')).toBe(true);
  });
});

describe('isZonedTimestamp', () => {
  it.each(['2026-03-24T18:42:11Z', '2026-03-24 18:42:11.5-03:30', '2026-03-24t18:42:11z'])(
    'accepts %j',
    (t) => {
      expect(isZonedTimestamp(t)).toBe(true);
    },
  );

  it.each([
    '2026-03-24T18:42:11',
    '2026-13-01T00:00:00Z',
    '2026-03-24T24:00:00Z',
    '2026-03-24T18:60:00Z',
    '2026-03-24T18:42:60Z',
    '2026-03-24T18:42:11+24:00',
    '2026-03-24T18:42:11.Z',
    '26-03-24T18:42:11Z',
  ])('rejects %j', (t) => {
    expect(isZonedTimestamp(t)).toBe(false);
  });
});

describe('formatRfc3339Nano', () => {
  it.each([
    [new Date(Date.UTC(2026, 2, 24, 18, 42, 11, 123)), '2026-03-24T18:42:11.123Z'],
    [new Date(Date.UTC(2026, 2, 24, 18, 42, 11, 0)), '2026-03-24T18:42:11Z'],
    [new Date(Date.UTC(2026, 2, 24, 18, 42, 11, 100)), '2026-03-24T18:42:11.1Z'],
    [new Date(0), '1970-01-01T00:00:00Z'],
    [new Date(-1), '1969-12-31T23:59:59.999Z'],
  ])('formats a Date (%s)', (date, expected) => {
    expect(formatRfc3339Nano(date)).toBe(expected);
  });

  it.each([
    ['2026-03-24T18:42:11.123456+00:00', '2026-03-24T18:42:11.123456Z'],
    ['2026-03-24 20:42:11.120000+02', '2026-03-24T18:42:11.12Z'],
    ['2026-03-24T18:42:11.123456789-01:00', '2026-03-24T19:42:11.123456789Z'],
    ['2026-03-24T18:42:11.1234567891Z', '2026-03-24T18:42:11.123456789Z'],
    ['2026-03-24T18:42:11.000Z', '2026-03-24T18:42:11Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00Z'],
  ])('normalises text %j to UTC', (input, expected) => {
    expect(formatRfc3339Nano(input)).toBe(expected);
  });

  it('round-trips through sameInstant', () => {
    const text = '2031-07-04T01:02:03.000450+05:45';
    expect(sameInstant(formatRfc3339Nano(text), text)).toBe(true);
  });

  it('rejects invalid input', () => {
    expect(() => formatRfc3339Nano(new Date(NaN))).toThrow(RangeError);
    expect(() => formatRfc3339Nano('2026-03-24T18:42:11')).toThrow(RangeError);
    expect(() => formatRfc3339Nano(new Date(Date.UTC(10000, 0, 1)))).toThrow(RangeError);
    expect(() => formatRfc3339Nano('0000-01-01T00:00:00+01:00')).toThrow(RangeError);
  });
});
