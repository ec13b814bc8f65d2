import type { Command } from '@lantern/shared';
import { auditCommands } from './commands/audit.js';
import { eventStoreCommands } from './commands/events.js';

/** The commands that open the store file directly, beside a live `serve` or on a copy. */
export const eventCommands: Command[] = [...eventStoreCommands, ...auditCommands];
