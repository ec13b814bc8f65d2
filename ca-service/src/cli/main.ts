#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { runCli } from '@lantern/shared';
import { commands } from './commands.js';
import { eventCommands } from './event-commands.js';

const code = await runCli('lantern-ca', [...commands, ...eventCommands], process.argv.slice(2), {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  readStdin: async () => readFileSync(0, 'utf8'),
  env: process.env,
});
process.exitCode = code;
