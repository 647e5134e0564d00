import { parseSseStream, SseParser } from './sse-parser.util.js';

describe('SseParser', () => {
  it('parses events with and without a leading space after the colon', () => {
    expect(
      parseSseStream('event: bundle\ndata: {"bundle_seq":1}\n\nevent:bundle\ndata:{"bundle_seq":2}\n\n'),
    ).toEqual([
      { event: 'bundle', data: '{"bundle_seq":1}' },
      { event: 'bundle', data: '{"bundle_seq":2}' },
    ]);
  });

  it('strips only one leading space', () => {
    expect(parseSseStream('event:  bundle\ndata:  x\n\n')).toEqual([{ event: ' bundle', data: ' x' }]);
  });

  it('ignores comments (heartbeats) and unknown fields', () => {
    expect(
      parseSseStream(': heartbeat\n\nid: 7\nretry: 10\n: note\nevent: bundle\nfoo: bar\ndata: 1\n\n'),
    ).toEqual([{ event: 'bundle', data: '1' }]);
  });

  it('does not dispatch a message without its terminating blank line', () => {
    expect(parseSseStream('event: bundle\ndata: 1\n')).toEqual([]);
  });

  it('joins multiple data lines with \\n and keeps messages without an event name', () => {
    expect(parseSseStream('data: a\ndata: b\n\n')).toEqual([{ event: '', data: 'a\nb' }]);
  });

  it('treats a field line without a colon as an empty value', () => {
    expect(parseSseStream('event: bundle\ndata\n\n')).toEqual([{ event: 'bundle', data: '' }]);
  });

  it('resets the event name after each dispatch', () => {
    expect(parseSseStream('event: bundle\ndata: 1\n\ndata: 2\n\n')).toEqual([
      { event: 'bundle', data: '1' },
      { event: '', data: '2' },
    ]);
  });

  it('accepts CRLF and lone CR line endings', () => {
    expect(parseSseStream('event: bundle\r\ndata: 1\r\n\r\nevent: bundle\rdata: 2\r\r')).toEqual([
      { event: 'bundle', data: '1' },
      { event: 'bundle', data: '2' },
    ]);
  });

  it('skips a leading byte-order mark', () => {
    expect(parseSseStream('\ufeffevent: bundle\ndata: 1\n\n')).toEqual([{ event: 'bundle', data: '1' }]);
  });

  it('gives the same messages for every way of splitting the stream into two chunks', () => {
    const stream =
      ': heartbeat\r\n\r\nevent: bundle\r\ndata: {"bundle_seq":3}\r\n\r\nevent:bundle\ndata:{"bundle_seq":4}\n\n';
    const whole = parseSseStream(stream);
    expect(whole).toHaveLength(2);
    for (let cut = 0; cut <= stream.length; cut++) {
      const parser = new SseParser();
      const got = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))];
      expect(got).toEqual(whole);
    }
  });

  it('handles a CRLF split exactly between \\r and \\n (no spurious blank line)', () => {
    const parser = new SseParser();
    expect(parser.push('event: bundle\r')).toEqual([]);
    expect(parser.push('')).toEqual([]);
    expect(parser.push('\ndata: 5\r')).toEqual([]);
    // The `\r` ends the blank line, so the message dispatches now; the next `\n` belongs to it.
    expect(parser.push('\n\r')).toEqual([{ event: 'bundle', data: '5' }]);
    expect(parser.push('\nevent: bundle\r')).toEqual([]);
    expect(parser.push('\ndata: 6\r\n\r\n')).toEqual([{ event: 'bundle', data: '6' }]);
  });

  it('handles one character per chunk', () => {
    const parser = new SseParser();
    const out = [...'event: bundle\r\ndata: 9\r\n\r\n'].flatMap((ch) => parser.push(ch));
    expect(out).toEqual([{ event: 'bundle', data: '9' }]);
  });

  it('drops partial input on reset()', () => {
    const parser = new SseParser();
    parser.push('event: bundle\ndata: 1');
    parser.reset();
    expect(parser.push('\n\ndata: 2\n\n')).toEqual([{ event: '', data: '2' }]);
  });
});
