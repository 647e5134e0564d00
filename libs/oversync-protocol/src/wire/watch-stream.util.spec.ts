import { WATCH_HEARTBEAT_FRAME } from './watch.types.js';
import { formatWatchEventFrame, parseWatchEventData, WatchStreamParser } from './watch-stream.util.js';

describe('parseWatchEventData', () => {
  it('parses catch-up and live events, dropping unknown fields', () => {
    expect(parseWatchEventData('{"bundle_seq":7}')).toEqual({ bundle_seq: 7 });
    expect(parseWatchEventData('{"bundle_seq":8,"source_id":"s1","source_bundle_id":3,"x":1}')).toEqual({
      bundle_seq: 8,
      source_id: 's1',
      source_bundle_id: 3,
    });
  });

  it.each([
    ['zero bundle_seq', '{"bundle_seq":0}'],
    ['negative bundle_seq', '{"bundle_seq":-1}'],
    ['fractional bundle_seq', '{"bundle_seq":1.5}'],
    ['string bundle_seq', '{"bundle_seq":"1"}'],
    ['missing bundle_seq', '{}'],
    ['array', '[1]'],
    ['null', 'null'],
    ['non-string source_id', '{"bundle_seq":1,"source_id":5}'],
    ['non-integer source_bundle_id', '{"bundle_seq":1,"source_bundle_id":"2"}'],
  ])('rejects %s', (_name, data) => {
    expect(() => parseWatchEventData(data)).toThrow(TypeError);
  });

  it('rejects malformed JSON', () => {
    expect(() => parseWatchEventData('{bundle_seq')).toThrow(SyntaxError);
  });
});

describe('WatchStreamParser', () => {
  it('yields bundle events only, across chunk boundaries, ignoring heartbeats', () => {
    const parser = new WatchStreamParser();
    expect(parser.push(': heartbeat\n\nevent: other\ndata: {}\n\nevent: bun')).toEqual([]);
    expect(parser.push('dle\ndata: {"bundle_seq":2}\n')).toEqual([]);
    expect(
      parser.push('\nevent:bundle\r\ndata:{"bundle_seq":3,"source_id":"a","source_bundle_id":1}\r\n\r\n'),
    ).toEqual([{ bundle_seq: 2 }, { bundle_seq: 3, source_id: 'a', source_bundle_id: 1 }]);
  });

  it('throws on a malformed bundle event', () => {
    expect(() => new WatchStreamParser().push('event: bundle\ndata: {"bundle_seq":0}\n\n')).toThrow(
      TypeError,
    );
  });
});

describe('formatWatchEventFrame', () => {
  it('writes the Go server framing, omitting absent source fields', () => {
    expect(formatWatchEventFrame({ bundle_seq: 4 })).toBe('event: bundle\ndata: {"bundle_seq":4}\n\n');
    expect(formatWatchEventFrame({ bundle_seq: 5, source_id: 'a<b', source_bundle_id: 2 })).toBe(
      'event: bundle\ndata: {"bundle_seq":5,"source_id":"a\\u003cb","source_bundle_id":2}\n\n',
    );
  });

  it('is read back by the parser, heartbeats included', () => {
    const events = [{ bundle_seq: 1 }, { bundle_seq: 2, source_id: 's', source_bundle_id: 9 }];
    const stream = WATCH_HEARTBEAT_FRAME + events.map(formatWatchEventFrame).join(WATCH_HEARTBEAT_FRAME);
    expect(new WatchStreamParser().push(stream)).toEqual(events);
  });
});
