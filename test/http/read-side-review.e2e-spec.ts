/**
 * Read-side review: `GET /sync/watch` behind the middleware real host apps run in front of it (a
 * body parser that reads a GET's empty body, a compressing response layer), and pull and
 * committed-rows pages larger than the longest string V8 can hold.
 */
import type { INestApplication } from '@nestjs/common';
import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OversyncModule, ScopeManager } from '@oversync/nestjs';
import type { NextFunction, Request, Response } from 'express';
import { request as httpRequest } from 'node:http';
import { createGzip } from 'node:zlib';
import { sql } from 'kysely';
import { businessSchemaSql, businessTables, execSql } from '../support/business-schema.js';
import { bearerUserId, createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitUsers, openWatch, type WatchStream } from '../support/read-builders.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** Status and first body bytes of a GET, or `null` when no answer came within `ms`. */
function firstBytes(url: string, headers: Record<string, string>, ms: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers }, (res) => {
      res.setEncoding('utf8');
      res.once('data', (chunk: string) => {
        resolve(`${res.statusCode} ${chunk}`);
        req.destroy();
      });
    });
    const timer = setTimeout(() => {
      resolve(null);
      req.destroy();
    }, ms);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (error: Error & { code?: string }) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}

describe('watch behind a host that keeps Nest’s default JSON body parser', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let baseUrl: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    const moduleRef = await Test.createTestingModule({
      imports: [
        OversyncModule.forRoot({
          database: { connectionString: db.url, poolSize: 3 },
          registeredTables: businessTables('business'),
          resolveUserId: (req: unknown) => bearerUserId(req),
        }),
      ],
    }).compile();
    // bodyParser left on: the README's other option ("raise the default parser's limit").
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'], forceCloseConnections: true });
    await app.listen(0, '127.0.0.1');
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await app.close();
    await db.drop();
  });

  it('answers a watch whose empty body the parser read (Content-Length: 0), instead of never', async () => {
    // Once a request's body has been read to its end, Node marks the request destroyed; that is
    // not the client going away.
    const headers = {
      authorization: 'Bearer parsed-get',
      'oversync-source-id': 'w',
      'content-type': 'application/json',
      'content-length': '0',
    };
    await execSql(
      db.url,
      `WITH u AS (INSERT INTO sync.user_state (user_id, next_bundle_seq) VALUES ('parsed-get', 3) RETURNING user_pk)
       INSERT INTO sync.scope_state (user_pk, state_code, initialized_at, initialized_by_source_id)
       SELECT user_pk, 2, now(), 'w' FROM u`,
    );
    const answer = await firstBytes(`${baseUrl}/sync/watch?after_bundle_seq=0`, headers, 3000);
    expect(answer).toBe('200 event: bundle\ndata: {"bundle_seq":2}\n\n');
  });
});

/**
 * A compressing response layer as hosts add with the `compression` package: it sets
 * `Content-Encoding: gzip`, holds compressed output until it fills a buffer or `res.flush()` is
 * called, and adds `res.flush` for streaming routes.
 */
function gzipResponses(_req: Request, res: Response & { flush?: () => void }, next: NextFunction): void {
  const gzip = createGzip();
  const write = res.write.bind(res) as (chunk: Buffer) => boolean;
  const end = res.end.bind(res) as () => Response;
  gzip.on('data', (chunk: Buffer) => write(chunk));
  gzip.on('end', () => end());
  res.setHeader('Content-Encoding', 'gzip');
  res.write = ((chunk: string | Buffer) => gzip.write(chunk)) as Response['write'];
  res.end = ((chunk?: string | Buffer) => {
    if (chunk !== undefined && typeof chunk !== 'function') gzip.write(chunk);
    gzip.end();
    return res;
  }) as Response['end'];
  res.flush = () => gzip.flush();
  next();
}

@Module({})
class CompressingHostModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(gzipResponses).forRoutes('*path');
  }
}

describe('watch behind a compressing host middleware', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, imports: [CompressingHostModule] });
  });
  afterAll(async () => t.close());

  it('delivers each wake-up at once (flushes every frame, as go-oversync does)', async () => {
    await commitUsers(t, 'gz-watch', 1);
    let stream: WatchStream | undefined;
    try {
      stream = await openWatch(t.baseUrl, { user: 'gz-watch', source: 'w', query: '?after_bundle_seq=0' });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-encoding')).toBe('gzip');
      await expect(stream.waitForEvent((e) => e.bundle_seq === 1, 1500)).resolves.toEqual({ bundle_seq: 1 });
      await commitUsers(t, 'gz-watch', 1, { writerId: 'admin-panel' });
      await expect(stream.waitForEvent((e) => e.bundle_seq === 2, 1500)).resolves.toEqual({
        bundle_seq: 2,
        source_id: 'admin-panel',
        source_bundle_id: 1,
      });
    } finally {
      stream?.close();
    }
  });
});

/** What a streamed answer held: read without ever holding it as one string. */
interface StreamedAnswer {
  status: number;
  bytes: number;
  contentLength: number;
  /** Occurrences of the marker counted by {@link streamAnswer}. */
  marks: number;
  head: string;
  tail: string;
}

/** Reads an answer chunk by chunk, counting `marker` across chunk boundaries. */
async function streamAnswer(url: string, user: string, marker: string): Promise<StreamedAnswer> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${user}`, 'oversync-source-id': 'reader' },
  });
  const decoder = new TextDecoder();
  const out = { status: res.status, bytes: 0, marks: 0, head: '', tail: '' };
  // Shorter than the marker, so a marker found in carry + chunk always ends in the chunk.
  let carry = '';
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.bytes += value.length;
    const chunk = decoder.decode(value, { stream: true });
    const text = carry + chunk;
    for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) out.marks++;
    carry = text.slice(-(marker.length - 1));
    if (out.head.length < 200) out.head = (out.head + chunk).slice(0, 200);
    out.tail = (out.tail + chunk).slice(-200);
  }
  return { ...out, contentLength: Number(res.headers.get('content-length')) };
}

describe('pages larger than the longest V8 string (2^29 - 24 characters), which go-oversync serves', () => {
  const user = 'huge-page';
  const marker = '"op":"INSERT"';
  let t: OversyncTestApp;
  let bundleHash: string;
  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    // One server-originated bundle of 540 rows of about 1 MB (a back-office import of documents).
    const { bundle } = await t.get(ScopeManager).execWrite(user, { writerId: 'import' }, async (trx) => {
      await sql`INSERT INTO business.docs (doc_id, body)
                SELECT 'doc-' || g, repeat('x', 1000000) FROM generate_series(1, 540) g`.execute(trx);
    });
    bundleHash = bundle.bundle_hash;
  }, 120_000);
  afterAll(async () => t.close());

  it('serves a 540 MB pull page instead of 500 pull_failed on every retry', async () => {
    const pull = await streamAnswer(`${t.baseUrl}/sync/pull?after_bundle_seq=0`, user, marker);
    expect(pull.status).toBe(200);
    expect(pull.bytes).toBeGreaterThan(2 ** 29);
    expect(pull.bytes).toBe(pull.contentLength);
    expect(pull.marks).toBe(540);
    expect(pull.head).toMatch(/^\{"stable_bundle_seq":1,"bundles":\[\{"bundle_seq":1,"source_id":"import",/);
    expect(pull.tail.endsWith('}}]}],"has_more":false}\n')).toBe(true);
  }, 60_000);

  it('serves a 540 MB committed-rows page instead of 500 committed_bundle_rows_failed', async () => {
    const url = `${t.baseUrl}/sync/committed-bundles/1/rows?max_rows=1000`;
    const rows = await streamAnswer(url, user, marker);
    expect(rows.status).toBe(200);
    expect(rows.bytes).toBeGreaterThan(2 ** 29);
    expect(rows.bytes).toBe(rows.contentLength);
    expect(rows.marks).toBe(540);
    expect(rows.head).toContain(`"row_count":540,"bundle_hash":"${bundleHash}","rows":[{`);
    expect(rows.tail.endsWith('}}],"next_row_ordinal":539,"has_more":false}\n')).toBe(true);
  }, 60_000);
});
