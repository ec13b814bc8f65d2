/** A PostgreSQL error as the features see it: the server's message and SQLSTATE. */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    /** The connection was lost: any transaction on it is gone. */
    readonly connectionLost: boolean,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}
