import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentStatus, SyncState } from '@lantern/agent';

/** Where the agent keeps its per-install secret (`agentPaths(dataDir).localSecret`). */
export const localSecretPath = (dataDir: string) => join(dataDir, 'secrets', 'local-api-secret');

export interface AgentClientOptions {
  /** `http://localhost:PORT`: the page's origin, and so the passkeys' RP. */
  origin: string;
  dataDir: string;
  timeoutMs?: number;
}

/**
 * What the shell asks of the agent it supervises, over the loopback API with the per-install
 * secret, which the shell reads from the data directory as the agent's own user does. The
 * secret never reaches the renderer, a command line or the environment of another process.
 */
export class AgentClient {
  readonly origin: string;
  private readonly dataDir: string;
  private readonly timeoutMs: number;

  constructor(options: AgentClientOptions) {
    this.origin = new URL(options.origin).origin;
    this.dataDir = options.dataDir;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Whether the daemon answers at all (`GET /v1/status` needs no secret). */
  async alive(): Promise<boolean> {
    try {
      const response = await fetch(`${this.origin}/v1/status`, {
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  /**
   * The launch-nonce hand-off (issue 15): a one-time link that gives the window its page
   * session. It is checked to point at the agent's origin before anything loads it.
   */
  async launchUrl(): Promise<string> {
    const { url } = await this.call<{ url: string }>('POST', '/v1/ui/launch');
    if (new URL(url).origin !== this.origin) {
      throw new Error(`the agent answered a launch link for another origin: ${url}`);
    }
    return url;
  }

  status(): Promise<AgentStatus> {
    return this.call('GET', '/v1/status');
  }

  syncState(): Promise<SyncState> {
    return this.call('GET', '/v1/sync/state');
  }

  private async call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    const secret = (await readFile(localSecretPath(this.dataDir), 'utf8')).trim();
    const response = await fetch(`${this.origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) {
      throw new Error(`the agent answered HTTP ${response.status} to ${method} ${path}`);
    }
    return (await response.json()) as T;
  }
}
