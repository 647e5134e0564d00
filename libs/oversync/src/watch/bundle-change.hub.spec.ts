import { BundleChangeHub } from './bundle-change.hub.js';

describe('BundleChangeHub (P8 coalescing)', () => {
  it('delivers only the newest of a burst to a slow subscriber', () => {
    const hub = new BundleChangeHub();
    let ready = 0;
    const sub = hub.subscribe(7, 0, () => ready++);
    hub.publish(7, { bundle_seq: 1, source_id: 'a', source_bundle_id: 1 });
    hub.publish(7, { bundle_seq: 2, source_id: 'a', source_bundle_id: 2 });
    hub.publish(7, { bundle_seq: 3, source_id: 'b', source_bundle_id: 1 });
    expect(ready).toBe(3);
    expect(sub.take()).toEqual({ bundle_seq: 3, source_id: 'b', source_bundle_id: 1 });
    expect(sub.take()).toBeNull();
  });

  it('drops events at or below the last queued or sent sequence, and below the checkpoint', () => {
    const hub = new BundleChangeHub();
    const sub = hub.subscribe(1, 5, () => undefined);
    hub.publish(1, { bundle_seq: 4 });
    hub.publish(1, { bundle_seq: 5 });
    expect(sub.take()).toBeNull();
    hub.publish(1, { bundle_seq: 7 });
    expect(sub.take()).toEqual({ bundle_seq: 7 });
    hub.publish(1, { bundle_seq: 6 });
    hub.publish(1, { bundle_seq: 7 });
    expect(sub.take()).toBeNull();
  });

  it('isolates users and forgets subscribers on unsubscribe', () => {
    const hub = new BundleChangeHub();
    const a = hub.subscribe(1, 0, () => undefined);
    const b = hub.subscribe(2, 0, () => undefined);
    const a2 = hub.subscribe(1, 0, () => undefined);
    expect(hub.subscriberCount()).toBe(3);
    expect(hub.subscribedUserPks().sort()).toEqual([1, 2]);
    hub.publish(2, { bundle_seq: 1 });
    expect(a.take()).toBeNull();
    expect(b.take()).toEqual({ bundle_seq: 1 });
    hub.unsubscribe(a);
    hub.unsubscribe(a);
    expect(hub.subscriberCount(1)).toBe(1);
    hub.publish(1, { bundle_seq: 9 });
    expect(a.take()).toBeNull();
    expect(a.closed).toBe(true);
    expect(a2.take()).toEqual({ bundle_seq: 9 });
    hub.unsubscribe(a2);
    hub.unsubscribe(b);
    expect(hub.subscriberCount()).toBe(0);
    expect(hub.subscribedUserPks()).toEqual([]);
  });

  it('never blocks a publisher, however many events a subscriber leaves unread', () => {
    const hub = new BundleChangeHub();
    const sub = hub.subscribe(3, 0, () => undefined);
    for (let i = 1; i <= 100_000; i++) hub.publish(3, { bundle_seq: i });
    expect(sub.take()).toEqual({ bundle_seq: 100_000 });
  });
});
