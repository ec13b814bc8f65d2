export const AGENT_NAME = 'lantern-agent';
