import { UnauthorizedError } from '@lantern/shared';
import type { FastifyRequest } from 'fastify';
import type { AccessTokenClaims } from '../auth/tokens.js';
import { deviceKeyThumbprint, verifyAccessToken } from '../auth/tokens.js';
import type { CaContext } from '../context/ca-context.js';
import type { DeviceProofSupport } from './device-proof-support.js';
import { bearer } from './principal.js';

/**
 * The caller of a user route, from the CA's own access token. A device-bound access token
 * (`cnf.jkt`) is accepted only with a device proof by the same key (`Lantern-Device-Proof`), so
 * a token lifted from a device is no use elsewhere.
 */
export function signedInCaller(
  ctx: CaContext,
  proofs: DeviceProofSupport,
): (request: FastifyRequest) => Promise<AccessTokenClaims> {
  return async (request) => {
    const claims = await verifyAccessToken(ctx, bearer(request));
    if (claims.jkt !== undefined) {
      const device = await proofs.proveIfPresent(request);
      if (!device || deviceKeyThumbprint(device) !== claims.jkt) {
        throw new UnauthorizedError(
          'this access token is bound to a device: send a device proof signed by its key',
        );
      }
    }
    return claims;
  };
}
