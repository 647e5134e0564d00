/**
 * The demo server (apps/demo-server) as software a user might deploy: JWT verification,
 * dev-login, the admin token guard, admin input validation, error handling, static serving and the
 * embedded PostgreSQL start. Boots the real demo app the way test/support/demo-harness.ts does
 * (`createDemoApp` on a fresh test database, web page built from source), without a browser.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'node:http';
import pg from 'pg';
import { createDemoApp, type DemoApp, type DemoAppOptions } from '../../apps/demo-server/src/demo-app.js';
import { buildDemoWeb, uniqueUser } from '../support/demo-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs an arbitrary header and claims with HS256 (what any holder of the secret can do). */
function sign(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string): string {
  const head = b64(header);
  const body = b64(claims);
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** GET with the path sent byte for byte (fetch would normalise `..` segments away). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('demo server', () => {
  let db: TestDatabase;
  let demo: DemoApp;
  let webRoot: string;
  const adminToken = `admin-${randomBytes(8).toString('hex')}`;
  const jwtSecret = randomBytes(16).toString('hex');

  beforeAll(async () => {
    webRoot = buildDemoWeb();
    db = await createTestDatabase('oversync_demo');
    demo = await createDemoApp({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      adminToken,
      jwtSecret,
      devLogin: true,
      webRoot,
      logger: ['error'],
    });
  });
  afterAll(async () => {
    await demo?.close();
    await db?.drop();
    rmSync(webRoot, { recursive: true, force: true });
  });

  /** Status of an authenticated sync call (`GET /sync/capabilities`) with `authorization`. */
  async function syncStatus(authorization: string | undefined): Promise<number> {
    const headers: Record<string, string> = { 'oversync-source-id': 'demo-device' };
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await fetch(`${demo.url}/sync/capabilities`, { headers });
    await res.text();
    return res.status;
  }

  async function devLogin(
    userId: unknown,
  ): Promise<{ status: number; body: { token: string; userId: string } }> {
    const res = await fetch(`${demo.url}/auth/dev-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as { token: string; userId: string } };
  }

  async function admin(
    method: string,
    path: string,
    body?: unknown,
    authorization = `Bearer ${adminToken}`,
  ): Promise<{ status: number; text: string; json: Record<string, unknown> | undefined }> {
    const res = await fetch(`${demo.url}/admin${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json: json as Record<string, unknown> | undefined };
  }

  /** Number of `business.users` rows of `userId` (its profile) in the database. */
  async function userRows(userId: string): Promise<number> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM business.users WHERE _sync_scope_id = $1 AND id = $1',
        [userId],
      );
      return rows[0].n;
    } finally {
      await client.end();
    }
  }

  const bearer = (token: string) => `Bearer ${token}`;
  const HS256 = { alg: 'HS256', typ: 'JWT' };

  describe('JWT verification (auth/hs256-jwt.ts, auth/jwt-auth.middleware.ts)', () => {
    it('accepts a dev-login token; refuses a missing, tampered, alg:none, other-alg, expired or wrong-secret token', async () => {
      const user = uniqueUser('jwt');
      const login = await devLogin(user);
      expect(login.status).toBe(201);
      const token = login.body.token;
      expect(await syncStatus(bearer(token))).toBe(200);

      const [head, , sig] = token.split('.');
      const otherBody = b64({ sub: 'someone-else', exp: now() + 600 });
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user })}.`;
      const noneSigned = sign({ alg: 'none' }, { sub: user, exp: now() + 600 }, jwtSecret);
      const hs512Header = sign({ alg: 'HS512' }, { sub: user, exp: now() + 600 }, jwtSecret);
      const expired = sign(HS256, { sub: user, exp: now() - 5 }, jwtSecret);
      const wrongSecret = sign(HS256, { sub: user, exp: now() + 600 }, 'not-the-secret');
      for (const auth of [
        undefined,
        'Bearer',
        'Bearer ',
        `Basic ${token}`,
        bearer(`${head}.${otherBody}.${sig}`),
        bearer(unsigned),
        bearer(noneSigned),
        bearer(hs512Header),
        bearer(expired),
        bearer(wrongSecret),
        bearer('a.b'),
        bearer('...'),
        bearer('not a token'),
      ]) {
        expect({ auth, status: await syncStatus(auth) }).toEqual({ auth, status: 401 });
      }
    });

    it('a validly signed token whose sub is empty, blank or not a string gives no user (401)', async () => {
      for (const sub of ['', '   ', 42, null, ['alice']]) {
        const token = sign(HS256, { sub, exp: now() + 600 }, jwtSecret);
        expect({ sub, status: await syncStatus(bearer(token)) }).toEqual({ sub, status: 401 });
      }
      // Claims that are not an object do not crash the middleware.
      for (const claims of ['null', '[]', '"alice"', '{']) {
        const head = b64(HS256);
        const body = Buffer.from(claims).toString('base64url');
        const s = createHmac('sha256', jwtSecret).update(`${head}.${body}`).digest('base64url');
        expect(await syncStatus(bearer(`${head}.${body}.${s}`))).toBe(401);
      }
    });

    it('a token whose nbf (not before) is in the future is refused', async () => {
      const user = uniqueUser('nbf');
      const token = sign(HS256, { sub: user, nbf: now() + 3600, exp: now() + 7200 }, jwtSecret);
      // RFC 7519 §4.1.5: the token MUST NOT be accepted before nbf.
      expect(await syncStatus(bearer(token))).toBe(401);
    });

    it('a token whose exp is not a NumericDate (e.g. the string "1", long past) is refused', async () => {
      const user = uniqueUser('exp');
      const token = sign(HS256, { sub: user, exp: '1' }, jwtSecret);
      // An exp that is not a number is refused, not ignored (it would never expire).
      expect(await syncStatus(bearer(token))).toBe(401);
    });

    it('a token with more than three segments (valid token + ".junk") is refused', async () => {
      const token = (await devLogin(uniqueUser('seg'))).body.token;
      expect(await syncStatus(bearer(token))).toBe(200);
      // JWS compact serialisation has exactly three parts; `split('.')` destructuring ignores the rest.
      expect(await syncStatus(bearer(`${token}.junk`))).toBe(401);
      expect(await syncStatus(bearer(`${token}.`))).toBe(401);
    });

    it('the signature must be canonical base64url (no padding, no stray characters, no alternate last char)', async () => {
      const token = (await devLogin(uniqueUser('sig'))).body.token;
      const [head, body, sig] = token.split('.');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      // 43 characters carry 258 bits for a 256-bit MAC: the last character's two low bits are unused.
      const sibling = alphabet[alphabet.indexOf(sig.at(-1)!) ^ 1];
      const variants = [
        `${sig}=`,
        `${sig}==`,
        `${sig.slice(0, 5)}!${sig.slice(5)}`,
        `${sig.slice(0, 5)}.${sig.slice(5)}`.replace('.', '*'),
        `${sig.slice(0, -1)}${sibling}`,
        sig.replace(/-/g, '+').replace(/_/g, '/'),
      ].filter((v) => v !== sig);
      const accepted: string[] = [];
      for (const v of variants)
        if ((await syncStatus(bearer(`${head}.${body}.${v}`))) !== 401) accepted.push(v);
      // Buffer.from(sig, 'base64url') skips invalid characters and padding; without the canonical
      // check many different strings would be "the" signature (token malleability: deny-lists or
      // caches keyed by the token string would be bypassed).
      expect(accepted).toEqual([]);
    });

    it('the Bearer auth scheme is case-insensitive (RFC 7235 §2.1) for user tokens and the admin token', async () => {
      const token = (await devLogin(uniqueUser('case'))).body.token;
      expect(await syncStatus(`bearer ${token}`)).toBe(200);
      expect(
        (await admin('GET', `/users/${uniqueUser('case')}/posts`, undefined, `bearer ${adminToken}`)).status,
      ).toBe(200);
    });
  });

  describe('dev-login (auth/auth.controller.ts, auth/user-profile.service.ts)', () => {
    it('validates userId (trimmed; 1–64 of [A-Za-z0-9_.@-]) and issues a token for exactly that id', async () => {
      for (const userId of ['', '   ', 'a'.repeat(65), 'al ice', 'alice/bob', 'ålice', 42, null, ['alice']]) {
        expect({ userId, status: (await devLogin(userId)).status }).toEqual({ userId, status: 400 });
      }
      const user = uniqueUser('trim');
      const login = await devLogin(`  ${user}  `);
      expect(login.status).toBe(201);
      expect(login.body.userId).toBe(user);
      const claims = JSON.parse(Buffer.from(login.body.token.split('.')[1], 'base64url').toString());
      expect(claims.sub).toBe(user);
      expect(claims.exp - claims.iat).toBe(24 * 3600);
      // The profile row was written as a bundle of that scope.
      const posts = await admin('GET', `/users/${user}/posts`);
      expect(posts.status).toBe(200);
    });

    it('malformed JSON is a clean 400 with no stack trace', async () => {
      const res = await fetch(`${demo.url}/auth/dev-login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"userId": ',
      });
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(text).not.toMatch(/\s+at\s|node_modules|\.ts:\d|SELECT|INSERT/);
    });

    it('is disabled (403) when devLogin is false (NODE_ENV=production)', async () => {
      const prod = await createDemoApp({
        databaseUrl: db.url,
        port: 0,
        host: '127.0.0.1',
        adminToken,
        jwtSecret,
        devLogin: false,
        logger: [],
      });
      try {
        const res = await fetch(`${prod.url}/auth/dev-login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId: 'alice' }),
        });
        expect(res.status).toBe(403);
      } finally {
        await prod.close();
      }
    });

    it('concurrent first logins of the same new user all succeed (no 500)', async () => {
      const user = uniqueUser('race');
      // Two tabs/devices signing in at once: both see no profile row before either creates it.
      const logins = await Promise.all(Array.from({ length: 4 }, () => devLogin(user)));
      expect(logins.map((l) => l.status)).toEqual([201, 201, 201, 201]);
      expect(await userRows(user)).toBe(1);
    });

    it('concurrent first logins of one user on two server instances all succeed', async () => {
      const second = await createDemoApp({
        databaseUrl: db.url,
        port: 0,
        host: '127.0.0.1',
        adminToken,
        jwtSecret,
        devLogin: true,
        logger: ['error'],
      });
      try {
        const user = uniqueUser('race2');
        // The second instance's scope write finds the row the first one created under the scope lock.
        const statuses = await Promise.all(
          [demo.url, second.url, demo.url, second.url].map(async (base) => {
            const res = await fetch(`${base}/auth/dev-login`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ userId: user }),
            });
            await res.text();
            return res.status;
          }),
        );
        expect(statuses).toEqual([201, 201, 201, 201]);
        expect(await userRows(user)).toBe(1);
      } finally {
        await second.close();
      }
    });
  });

  describe('admin API (admin/*)', () => {
    it('the admin guard refuses a missing, blank, wrong, wrong-length, user-JWT or non-Bearer token', async () => {
      const user = uniqueUser('guard');
      const userJwt = (await devLogin(user)).body.token;
      for (const auth of [
        '',
        'Bearer',
        'Bearer ',
        `Bearer ${adminToken.slice(0, -1)}`,
        `Bearer ${adminToken}x`,
        `Bearer ${adminToken.slice(0, -1)}${adminToken.at(-1) === 'a' ? 'b' : 'a'}`,
        `Bearer ${userJwt}`,
        `Basic ${adminToken}`,
        adminToken,
      ]) {
        const res = await admin('GET', `/users/${user}/posts`, undefined, auth);
        expect({ auth, status: res.status }).toEqual({ auth, status: 401 });
      }
      const write = await admin('POST', `/users/${user}/posts`, { title: 'x' }, 'Bearer wrong');
      expect(write.status).toBe(401);
      expect((await admin('GET', `/users/${user}/posts`)).json).toEqual([]);
    });

    it('validates user ids, post ids, titles and names; edits are confined to the user in the path', async () => {
      const alice = uniqueUser('alice');
      const bob = uniqueUser('bob');
      const added = await admin('POST', `/users/${alice}/posts`, { title: '  Hello  ', content: 'c' });
      expect(added.status).toBe(201);
      const id = added.json!.id as string;
      expect((await admin('GET', `/users/${alice}/posts`)).json).toMatchObject([{ id, title: 'Hello' }]);

      for (const path of ['/users/%20alice/posts', `/users/${'a'.repeat(65)}/posts`, '/users/a%2Fb/posts']) {
        expect({ path, status: (await admin('GET', path)).status }).toEqual({ path, status: 400 });
      }
      for (const title of ['', '   ', 'x'.repeat(201), 7, null]) {
        const r = await admin('POST', `/users/${alice}/posts`, { title });
        expect({ title, status: r.status }).toEqual({ title, status: 400 });
      }
      expect((await admin('POST', `/users/${alice}/rename`, { name: 'x'.repeat(101) })).status).toBe(400);
      expect((await admin('PATCH', `/users/${alice}/posts/not-a-uuid`, { title: 't' })).status).toBe(400);
      expect((await admin('PATCH', `/users/${alice}/posts/${id}`, {})).status).toBe(400);
      expect((await admin('PATCH', `/users/${alice}/posts/${id}`, { content: 5 })).status).toBe(400);
      // Another user's path cannot reach alice's post.
      expect((await admin('PATCH', `/users/${bob}/posts/${id}`, { title: 'stolen' })).status).toBe(404);
      expect((await admin('DELETE', `/users/${bob}/posts/${id}`)).status).toBe(404);
      // Upper-case UUIDs are accepted and normalised.
      const patched = await admin('PATCH', `/users/${alice}/posts/${id.toUpperCase()}`, { title: 'New' });
      expect(patched.status).toBe(200);
      expect(patched.json).toMatchObject({ id, title: 'New', content: 'c' });
      expect((await admin('DELETE', `/users/${alice}/posts/${id}`)).status).toBe(204);
      expect((await admin('DELETE', `/users/${alice}/posts/${id}`)).status).toBe(404);
    });

    it('seed: posts outside 0–10000 or fractional are 400; bodies over 1 MB are a clean 413', async () => {
      const user = uniqueUser('seedlimits');
      for (const posts of [-1, 10001, 1.5, 'abc', 1e9]) {
        const r = await admin('POST', `/users/${user}/seed`, { posts });
        expect({ posts, status: r.status }).toEqual({ posts, status: 400 });
      }
      const big = await admin('POST', `/users/${user}/posts`, { title: 't', content: 'x'.repeat(1_100_000) });
      expect(big.status).toBe(413);
      expect(big.text).not.toMatch(/\s+at\s|node_modules/);
    });

    it('seed refuses a "posts" that is not a JSON number (true, null, "", [], "0x2", [3])', async () => {
      const user = uniqueUser('seedtypes');
      const accepted: Array<{ posts: unknown; reply: unknown }> = [];
      for (const posts of [true, null, '', [], '0x2', [3]]) {
        const r = await admin('POST', `/users/${user}/seed`, { posts });
        if (r.status !== 400) accepted.push({ posts, reply: r.json });
      }
      // No coercion (`Number()` would turn true → 1, null/""/[] → 0, "0x2" → 2, [3] → 3, each one a
      // committed bundle of the scope).
      expect(accepted).toEqual([]);
    });

    it('POST posts refuses a non-string content, as PATCH does', async () => {
      const user = uniqueUser('content');
      const r = await admin('POST', `/users/${user}/posts`, { title: 't', content: { text: 'lost' } });
      expect(r.status).toBe(400);
    });

    it('text containing U+0000 is a 400, not a 500 from PostgreSQL', async () => {
      const user = uniqueUser('nul');
      const statuses = {
        title: (await admin('POST', `/users/${user}/posts`, { title: 'a\u0000b' })).status,
        content: (await admin('POST', `/users/${user}/posts`, { title: 't', content: 'a\u0000b' })).status,
        name: (await admin('POST', `/users/${user}/rename`, { name: 'a\u0000b' })).status,
      };
      // PostgreSQL text cannot hold NUL ("invalid byte sequence for encoding UTF8: 0x00", a 500).
      expect(statuses).toEqual({ title: 400, content: 400, name: 400 });
    });

    it('an admin write while a device initialises the scope is a 409 with retry information, not a 500', async () => {
      const user = uniqueUser('initializing');
      const token = sign(HS256, { sub: user, exp: now() + 600 }, jwtSecret);
      const connect = await fetch(`${demo.url}/sync/connect`, {
        method: 'POST',
        headers: {
          authorization: bearer(token),
          'oversync-source-id': 'device-a',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ has_local_pending_rows: true }),
      });
      expect(((await connect.json()) as { resolution: string }).resolution).toBe('initialize_local');
      const r = await admin('POST', `/users/${user}/posts`, { title: 'during init' });
      // ScopeInitializingError: the device holds the initialization lease; retry after it ends.
      expect(r.status).toBe(409);
      expect(r.text).toMatch(/initiali[sz]/i);
      expect(r.json).toMatchObject({ error: 'scope_initializing' });
      expect(Date.parse(r.json!.lease_expires_at as string)).toBeGreaterThan(Date.now());
    });
  });

  describe('static web serving', () => {
    it('serves index.html and refuses path traversal and dotfiles', async () => {
      const index = await fetch(`${demo.url}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toMatch(/<!doctype html>/i);
      for (const path of [
        '/../../../../etc/passwd',
        '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
        '/..%2f..%2f..%2f..%2fetc%2fpasswd',
        '/..%5c..%5c..%5cetc%5cpasswd',
        '/%252e%252e/etc/passwd',
        '/.env',
        '/index.html%00.js',
      ]) {
        const res = await rawGet(demo.port, path);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.body).not.toMatch(/root:.*:0:0:/);
      }
    });
  });

  describe('secrets and production mode (demo-app.ts, demo.config.ts)', () => {
    const options = (extra: Partial<DemoAppOptions>): DemoAppOptions => ({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      logger: [],
      ...extra,
    });

    /** Runs `body` with the environment variables set as given (undefined: unset), then restores them. */
    async function withEnv<T>(env: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      const apply = (values: Record<string, string | undefined>) => {
        for (const [k, v] of Object.entries(values)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      };
      apply(env);
      try {
        return await body();
      } finally {
        apply(saved);
      }
    }

    it('refuses a blank adminToken option (an empty token would match a request without one)', async () => {
      for (const blank of ['', '   ']) {
        await expect(createDemoApp(options({ adminToken: blank, jwtSecret }))).rejects.toThrow(
          /adminToken option is blank/,
        );
      }
    });

    it('refuses a blank jwtSecret option (anyone could mint tokens with an empty HMAC key)', async () => {
      for (const blank of ['', ' \t']) {
        await expect(createDemoApp(options({ adminToken, jwtSecret: blank }))).rejects.toThrow(
          /jwtSecret option is blank/,
        );
      }
    });

    it('with NODE_ENV=production, refuses to start on the public development defaults', async () => {
      const cases: Array<[Record<string, string | undefined>, RegExp]> = [
        [{ JWT_SECRET: undefined, ADMIN_TOKEN: undefined }, /JWT_SECRET and ADMIN_TOKEN are not set/],
        [{ JWT_SECRET: 's3cret', ADMIN_TOKEN: '  ' }, /but ADMIN_TOKEN is not set/],
        [{ JWT_SECRET: '', ADMIN_TOKEN: 'adm1n' }, /but JWT_SECRET is not set/],
        // The public defaults set explicitly (copied from the README) are refused too.
        [{ JWT_SECRET: 's3cret', ADMIN_TOKEN: 'oversync-demo-admin' }, /but ADMIN_TOKEN is not set/],
        [
          { JWT_SECRET: 'oversync-demo-development-secret-change-me', ADMIN_TOKEN: 'adm1n' },
          /but JWT_SECRET is not set \(or set to the development default\)/,
        ],
      ];
      for (const [env, message] of cases) {
        const started = await withEnv({ NODE_ENV: 'production', ...env }, () =>
          createDemoApp(options({})).catch((error: unknown) => error as Error),
        );
        if (!(started instanceof Error)) await started.close();
        expect(started).toBeInstanceOf(Error);
        expect((started as Error).message).toMatch(message);
        expect((started as Error).message).toMatch(/Fix: set/);
      }
    });

    it('with NODE_ENV=production and both secrets set, starts without dev-login and refuses the defaults', async () => {
      const prodSecret = randomBytes(16).toString('hex');
      const prodAdmin = randomBytes(16).toString('hex');
      const started = await withEnv(
        { NODE_ENV: 'production', JWT_SECRET: prodSecret, ADMIN_TOKEN: prodAdmin },
        () => createDemoApp(options({})),
      );
      try {
        expect(started.config).toMatchObject({
          devLogin: false,
          jwtSecretIsDefault: false,
          adminTokenIsDefault: false,
        });
        // Both defaults are in the public source (demo.config.ts) and printed at start-up in development.
        const forged = sign(
          HS256,
          { sub: 'victim', exp: now() + 600 },
          'oversync-demo-development-secret-change-me',
        );
        const sync = await fetch(`${started.url}/sync/capabilities`, {
          headers: { authorization: bearer(forged), 'oversync-source-id': 'attacker' },
        });
        const admins = await Promise.all(
          ['oversync-demo-admin', prodAdmin].map(async (token) => {
            const res = await fetch(`${started.url}/admin/users/victim/posts`, {
              headers: { authorization: `Bearer ${token}` },
            });
            await res.text();
            return res.status;
          }),
        );
        expect({ forgedUserToken: sync.status, admins }).toEqual({
          forgedUserToken: 401,
          admins: [401, 200],
        });
      } finally {
        await started.close();
      }
    });
  });
});

describe('embedded PostgreSQL and process lifecycle (database/demo-database.ts, main.ts)', () => {
  it('when the embedded PostgreSQL cannot start (port taken), startDemoDatabase rejects with an Error naming the cause', async () => {
    // Something else already listens on the embedded port (another `npm start`, a local PostgreSQL …).
    const blocker = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const dataParent = mkdtempSync(join(tmpdir(), 'oversync-demo-pg-'));
    chmodSync(dataParent, 0o755); // run as root, PostgreSQL runs as the `postgres` OS user
    const script = `
      const { startDemoDatabase } = await import(${JSON.stringify(join(process.cwd(), 'apps/demo-server/src/database/demo-database.ts'))});
      try {
        const db = await startDemoDatabase();
        await db.stop();
        console.log(JSON.stringify({ started: true }));
      } catch (e) {
        console.log(JSON.stringify({ started: false, isError: e instanceof Error, message: String(e instanceof Error ? e.message : e) }));
      }
      process.exit(0);`;
    try {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        OVERSYNC_EMBEDDED_PG_PORT: String(port),
        OVERSYNC_DATA_DIR: join(dataParent, 'pgdata'),
      };
      delete env.DATABASE_URL;
      delete env.NODE_OPTIONS;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { env, timeout: 90_000 },
      );
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        started: boolean;
        isError?: boolean;
        message?: string;
      };
      // EmbeddedPostgres.start() itself rejects with `undefined` when postgres exits early; the demo
      // names the port and the data directory and quotes PostgreSQL's last log lines.
      expect(result.started).toBe(false);
      expect(result).toMatchObject({ isError: true });
      expect(result.message).toContain(`port ${port}`);
      expect(result.message).toContain(join(dataParent, 'pgdata'));
      expect(result.message).toMatch(/in use/i);
    } finally {
      blocker.close();
      rmSync(dataParent, { recursive: true, force: true });
    }
  }, 120_000);

  describe('the compiled server (main.ts) on a signal', () => {
    let outDir: string;
    let db: TestDatabase;

    beforeAll(async () => {
      // The compiled demo imports the libraries' builds, as `npm start` does: build them (tsc -b is
      // incremental, so this is quick when `npm run build` already ran) so `npm test` works alone.
      await promisify(execFile)(
        process.execPath,
        [
          'node_modules/typescript/bin/tsc',
          '-b',
          'libs/oversync-protocol/tsconfig.build.json',
          'libs/oversync/tsconfig.build.json',
        ],
        { timeout: 180_000 },
      );
      expect(existsSync(join(process.cwd(), 'libs/oversync/dist/index.js'))).toBe(true);
      // Compile the demo server as `npm start` does (tsc with decorator metadata), into test-output/
      // (git-ignored; removed in afterAll).
      mkdirSync(join(process.cwd(), 'test-output'), { recursive: true });
      outDir = mkdtempSync(join(process.cwd(), 'test-output', 'demo-server-'));
      await promisify(execFile)(
        process.execPath,
        ['node_modules/typescript/bin/tsc', '-p', 'apps/demo-server/tsconfig.app.json', '--outDir', outDir],
        { timeout: 120_000 },
      ).catch(() => undefined); // type errors still emit; `npm run typecheck` reports them
      db = await createTestDatabase('oversync_demo');
    }, 360_000);
    afterAll(async () => {
      await db?.drop();
      if (outDir) rmSync(outDir, { recursive: true, force: true });
    });

    it.each(['SIGTERM', 'SIGINT'] as const)(
      '%s closes the app gracefully (an in-flight admin request completes, exit code 0)',
      async (signal) => {
        const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: db.url, PORT: '0' };
        delete env.NODE_OPTIONS;
        delete env.NODE_ENV;
        delete env.JWT_SECRET;
        delete env.ADMIN_TOKEN;
        const child = spawn(process.execPath, [join(outDir, 'main.js')], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
          child.on('exit', (code, sig) => resolve({ code, signal: sig })),
        );
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`demo did not start: ${output}`)), 60_000);
          const onData = (chunk: Buffer) => {
            output += chunk.toString();
            const match = /Oversync demo on (http:\/\/\S+)/.exec(output);
            if (match) {
              clearTimeout(timer);
              resolve(match[1]);
            }
          };
          child.stdout.on('data', onData);
          child.stderr.on('data', onData);
          child.on('exit', () => reject(new Error(`demo exited: ${output}`)));
        });
        // A slow back-office write (one bundle of 10000 rows) is in flight when the signal arrives.
        const seed = fetch(`${url}/admin/users/${uniqueUser(signal.toLowerCase())}/seed`, {
          method: 'POST',
          headers: { authorization: 'Bearer oversync-demo-admin', 'content-type': 'application/json' },
          body: JSON.stringify({ posts: 10000 }),
        }).then(
          (res) => `HTTP ${res.status}`,
          (error: Error & { cause?: { code?: string } }) => `failed: ${error.cause?.code ?? error.message}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 150));
        child.kill(signal);
        // A repeated signal (Ctrl-C reaches the server from the terminal and from `npm start`) is ignored.
        setTimeout(() => child.kill(signal), 20);
        const [seedResult, exit] = await Promise.all([seed, exited]);
        // main.ts closes the app (the write finishes and is answered), then the database, then exits 0.
        expect({ seedResult, exit }).toEqual({ seedResult: 'HTTP 200', exit: { code: 0, signal: null } });
      },
      120_000,
    );
  });
});
