import { existsSync } from 'node:fs';
import type { EventValidator } from '@lantern/shared';
import { agentPaths } from '../data-dir/agent-paths.js';
import type { OpenAgentOptions, OpenedAgent } from '../data-dir/open-agent.js';
import { openAgent } from '../data-dir/open-agent.js';
import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import { DataKeyDestroyedError } from '../errors.js';
import { openAgentStore } from '../store/agent-store.js';
import type { SigninAgent } from './signin-agent.js';
import { createSigninAgent } from './signin-agent.js';
import { refusalError } from './signin-refusals.js';

export interface OpenedSigninAgent {
  opened: OpenedAgent;
  agent: SigninAgent;
}

/**
 * `openAgent` for sign-in. Once sync enforced a revocation of this device its keys are
 * shredded and cannot load; the person at the device is then told `device_revoked`, the
 * reason, rather than that a key is missing.
 */
export async function openSigninAgent(
  options: OpenAgentOptions & { validator?: EventValidator },
): Promise<OpenedSigninAgent> {
  try {
    const opened = await openAgent(options);
    return { opened, agent: createSigninAgent(opened, options.validator) };
  } catch (error) {
    if (error instanceof DataKeyDestroyedError && revokedAt(options) !== null) {
      throw refusalError('device_revoked');
    }
    throw error;
  }
}

function revokedAt(options: OpenAgentOptions): number | null {
  const path = agentPaths(options.dataDir).database;
  if (!existsSync(path)) return null;
  const store = openAgentStore(path, { clock: options.clock });
  try {
    const state = readDeviceRevocation(store);
    return state?.revoked === true ? state.revokedAt : null;
  } finally {
    store.close();
  }
}
