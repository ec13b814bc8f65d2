import { InvalidRequestError } from '@lantern/shared';
import type { ApiKeyPrincipal } from '../api-keys/api-keys.js';
import type { CaContext } from '../context/ca-context.js';
import { getTenant } from '../tenants/tenant-commands.js';

/** The tenant a call acts on: the one it names (checked later against the key), else the key's own. */
export async function tenantFor(
  ctx: CaContext,
  principal: ApiKeyPrincipal,
  named: string | undefined,
): Promise<string> {
  if (named !== undefined) return (await getTenant(ctx.store.db, named)).tenantId;
  if (principal.tenantId !== null) return principal.tenantId;
  throw new InvalidRequestError('name the tenant (`tenant`): this API key is installation-wide');
}
