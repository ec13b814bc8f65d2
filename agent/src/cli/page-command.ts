import { readFile } from 'node:fs/promises';
import type { Command } from '@lantern/shared';
import { UsageError, optionalString } from '@lantern/shared';
import { agentPaths, resolveDataDir } from '../data-dir/agent-paths.js';
import { DEFAULT_AGENT_PORT } from '../daemon/loopback.js';
import { AgentUnreachableError } from '../errors.js';

/**
 * `lantern-agent page`: a new one-time link to the sign-in page of the running agent, for the
 * browser of whoever can read the data directory's local secret (the launch link `serve`
 * printed works once and for ten minutes).
 */
export const pageCommand: Command = {
  path: ['page'],
  summary: 'Print a new one-time link that opens the sign-in page of the running agent',
  usage: `page [--data-dir D] [--port ${DEFAULT_AGENT_PORT}]`,
  options: { 'data-dir': { type: 'string' }, port: { type: 'string' } },
  async run(values, _positionals, io) {
    const port = Number(optionalString(values, 'port') ?? DEFAULT_AGENT_PORT);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError('--port must be 1-65535');
    }
    const paths = agentPaths(resolveDataDir(optionalString(values, 'data-dir'), io.env));
    const secret = await readFile(paths.localSecret, 'utf8').catch(() => {
      throw new AgentUnreachableError(
        `no local API secret at ${paths.localSecret}: start the agent with lantern-agent serve first`,
      );
    });
    let response: Response;
    try {
      response = await fetch(`http://127.0.0.1:${port}/v1/ui/launch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret.trim()}` },
        signal: AbortSignal.timeout(5_000),
      });
    } catch {
      throw new AgentUnreachableError(
        `no agent answers on port ${port}: start it with lantern-agent serve`,
      );
    }
    if (!response.ok) {
      throw new AgentUnreachableError(
        `the agent on port ${port} refused (HTTP ${response.status}): is it the one of this data directory?`,
      );
    }
    const { url } = (await response.json()) as { url: string };
    return { json: { url }, human: url };
  },
};
