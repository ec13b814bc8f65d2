import type { Command } from '@lantern/shared';
import { apiKeyCommands } from './commands/api-key.js';
import { webhookCommands } from './commands/webhook.js';
import { passwordResetLinkCommand } from './commands/password-reset-link.js';
import { caCommands } from './commands/ca.js';
import { deviceCommands } from './commands/device.js';
import { enrollTokenCommands } from './commands/enroll-token.js';
import { eventsCommand } from './commands/events.js';
import { inviteCommands } from './commands/invite.js';
import { keysCommands } from './commands/keys.js';
import { rootCommands } from './commands/root.js';
import { memberCommands } from './commands/member.js';
import { projectionsCommands } from './commands/projections.js';
import { initCommand, serveCommand } from './commands/service.js';
import { sessionCommands } from './commands/session.js';
import { ssoCommands } from './commands/sso.js';
import { tenantCommands } from './commands/tenant.js';
import { userCommands } from './commands/user.js';

/** `--help` lists them in this order. */
export const commands: Command[] = [
  initCommand,
  serveCommand,
  ...caCommands,
  ...rootCommands,
  ...tenantCommands,
  ...enrollTokenCommands,
  ...deviceCommands,
  ...projectionsCommands,
  ...userCommands,
  ...ssoCommands,
  ...sessionCommands,
  ...apiKeyCommands,
  ...inviteCommands,
  ...memberCommands,
  ...webhookCommands,
  passwordResetLinkCommand,
  ...keysCommands,
  eventsCommand,
];
