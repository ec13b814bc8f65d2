import { agentErrors } from '@lantern/agent';
import { caErrors } from '@lantern/ca-service';
import type { ErrorCatalogueSection } from '@lantern/shared';
import { sharedErrors } from '@lantern/shared';

export const ERROR_SECTIONS: readonly ErrorCatalogueSection[] = [
  { title: 'Shared (every service)', errors: sharedErrors },
  { title: 'CA service (`lantern-ca`, CA HTTP API)', errors: caErrors },
  { title: 'Agent (`lantern-agent`, loopback API)', errors: agentErrors },
];
