export interface ErrorDefinition {
  readonly code: string;
  readonly status: number;
  readonly meaning: string;
  readonly fix: string;
}

/**
 * Base of every error Lantern raises on purpose. `code` is the stable contract: clients, the
 * CLI and the docs table key on it; `message` is for humans and may change.
 */
export class LanternError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    status: number,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = options?.details;
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export interface LanternErrorClass<C extends string> {
  new (
    message?: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ): LanternError & {
    readonly code: C;
  };
  readonly definition: ErrorDefinition & { readonly code: C };
}

/**
 * Declares the class for one error code. Each package keeps its calls in one `errors.ts`, and
 * the list it exports is what the docs table is generated from and checked against.
 */
export function defineError<C extends string>(
  code: C,
  status: number,
  meaning: string,
  fix: string,
): LanternErrorClass<C> {
  const definition = Object.freeze({ code, status, meaning, fix });
  const ErrorForCode = class extends LanternError {
    static readonly definition = definition;
    declare readonly code: C;
    constructor(
      message?: string,
      options?: { cause?: unknown; details?: Record<string, unknown> },
    ) {
      super(code, status, message ?? meaning, options);
    }
  };
  return ErrorForCode as unknown as LanternErrorClass<C>;
}

export function isLanternError(value: unknown): value is LanternError {
  return value instanceof LanternError;
}
