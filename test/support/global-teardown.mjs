/** Jest global teardown: stops the PostgreSQL the setup started (nothing for DATABASE_URL). */
export default async function globalTeardown() {
  await globalThis.__OVERSYNC_PG__?.stop();
}
