import { replayEquivalent } from './replay-equivalence.js';

describe('replayEquivalent', () => {
  it('takes RFC 3339 instants as equal whatever their offset or precision', () => {
    expect(replayEquivalent('2026-03-01T12:00:00Z', '2026-03-01T13:30:00+01:30')).toBe(true);
    expect(replayEquivalent('2026-03-01T12:00:00.5Z', '2026-03-01T12:00:00.500000+00:00')).toBe(true);
    expect(replayEquivalent('2026-03-01T12:00:00.000001Z', '2026-03-01T12:00:00Z')).toBe(false);
    expect(replayEquivalent('2026-03-01T00:00:00-00:30', '2026-03-01T00:30:00Z')).toBe(true);
  });

  it('compares naive timestamps and other strings exactly', () => {
    expect(replayEquivalent('2026-03-01T12:00:00', '2026-03-01 12:00:00')).toBe(false);
    expect(replayEquivalent('Ada', 'ada')).toBe(false);
  });

  it('compares objects and arrays deeply, key order aside', () => {
    expect(replayEquivalent({ a: 1, b: [true, null] }, { b: [true, null], a: 1 })).toBe(true);
    expect(replayEquivalent({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(replayEquivalent([1, 2], [2, 1])).toBe(false);
    expect(
      replayEquivalent({ a: { t: '2026-03-01T12:00:00Z' } }, { a: { t: '2026-03-01T12:00:00+00:00' } }),
    ).toBe(true);
  });

  it('tells null, numbers and strings apart', () => {
    expect(replayEquivalent(null, null)).toBe(true);
    expect(replayEquivalent(null, 'null')).toBe(false);
    expect(replayEquivalent(1, '1')).toBe(false);
    expect(replayEquivalent(1.5, 1.5)).toBe(true);
  });
});
