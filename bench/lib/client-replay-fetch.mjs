/**
 * A `fetch` that records the server's answers once and replays them from memory, so a benchmark
 * can time the client's own work (JSON parsing, validation, SQLite apply) without the network and
 * the server in the measurement. Deletes of sessions are answered locally with 204.
 *
 * Answers are kept as the bytes the server sent, so a replay hands the client bytes to decode as
 * the network would; `bodies()` decodes them once, outside any timing, for the raw baseline.
 */
export class ReplayFetch {
  #answers = new Map();
  recording = true;

  /** Recorded bodies whose `METHOD url` key matches `pattern`, in recording order. */
  bodies(pattern) {
    const text = new TextDecoder();
    return [...this.#answers]
      .filter(([key]) => pattern.test(key))
      .map(([, answer]) => text.decode(answer.body));
  }

  fetch = async (input, init = {}) => {
    const method = init.method ?? 'GET';
    const key = `${method} ${input.replace(/snapshot-sessions\/[0-9a-f-]+/, 'snapshot-sessions/:id')}`;
    if (this.recording) {
      const res = await fetch(input, init);
      const body = new Uint8Array(await res.arrayBuffer());
      if (method !== 'DELETE') this.#answers.set(key, { status: res.status, body });
      return new Response(body.length > 0 ? body : null, { status: res.status, headers: res.headers });
    }
    if (method === 'DELETE') return new Response(null, { status: 204 });
    const answer = this.#answers.get(key);
    if (!answer) throw new Error(`no recorded answer for ${key}`);
    return new Response(answer.body, {
      status: answer.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}
