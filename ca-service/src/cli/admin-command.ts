import { optionalString } from '@lantern/shared';
import type { Command, CommandIo } from '@lantern/shared';
import type { AdminMethod, AdminSession } from './admin-client.js';
import { adminRequest, adminTarget, openAdmin } from './admin-client.js';
import type { CommandValues } from './command-kit.js';

/** Where an admin command goes: `--url` of a running CA, or `--data-dir` (see `adminTarget`). */
export const TARGET_OPTIONS = {
  url: { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

/** The CA an admin command talks to, over HTTP or on its data dir. */
export interface AdminClient {
  request<T>(method: AdminMethod, path: string, body?: unknown): Promise<T>;
  /** For a command that makes many requests (paging). */
  session(method: AdminMethod): Promise<AdminSession>;
}

/**
 * Resolves `--url`/`--data-dir` and the API key when called, not before `run`: a command checks
 * its own arguments up to that point, so a bad ID is named even without `--url`.
 */
export type Connect = () => AdminClient;

export interface AdminCommand extends Omit<Command, 'run'> {
  run(
    connect: Connect,
    values: CommandValues,
    positionals: string[],
    io: CommandIo,
  ): ReturnType<Command['run']>;
}

/** A command of the admin API: it takes `--url`/`--data-dir` and connects with them. */
export function adminCommand(command: AdminCommand): Command {
  return {
    ...command,
    options: { ...command.options, ...TARGET_OPTIONS },
    run(values, positionals, io) {
      const connect = (): AdminClient => {
        const target = adminTarget(values, io.env);
        return {
          request: <T>(method: AdminMethod, path: string, body?: unknown) =>
            adminRequest<T>(target, method, path, body),
          session: (method) => openAdmin(target, method),
        };
      };
      return command.run(connect, values, positionals, io);
    },
  };
}

/** The list routes' tenant filter, from `--tenant`. */
export function tenantQuery(values: CommandValues): string {
  const tenant = optionalString(values, 'tenant');
  return tenant ? `?tenant=${encodeURIComponent(tenant)}` : '';
}
