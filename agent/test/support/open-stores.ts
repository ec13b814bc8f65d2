import { afterEach } from 'vitest';
import type { AgentStore, AgentStoreOptions } from '../../src/store/agent-store.js';
import { openAgentStore } from '../../src/store/agent-store.js';

/** Opens real stores and closes them after each test (register after `useTempDirs`). */
export function useStores(): (path: string, options: AgentStoreOptions) => AgentStore {
  const opened: AgentStore[] = [];
  afterEach(() => {
    for (const store of opened.splice(0)) store.close();
  });
  return (path, options) => {
    const store = openAgentStore(path, options);
    opened.push(store);
    return store;
  };
}
