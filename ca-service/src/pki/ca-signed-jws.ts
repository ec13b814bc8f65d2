import { fromPem } from './der.js';
import type { CaMaterial } from './issuing-authority.js';

/**
 * A compact JWS by the issuing CA with its certificate in `x5c`: what the CA says to devices
 * (revocation pages, server time, token keys), checked by an agent against its pinned root.
 */
export async function caSignedJws(
  ctx: { ca: Pick<CaMaterial, 'authority' | 'issuingPem'> },
  typ: string,
  claims: Record<string, unknown>,
): Promise<string> {
  const header = { alg: 'ES256', typ, x5c: [fromPem(ctx.ca.issuingPem).toString('base64')] };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(
    JSON.stringify(claims),
  ).toString('base64url')}`;
  const signature = await ctx.ca.authority.signer.sign(Buffer.from(input), 'ieee-p1363');
  return `${input}.${signature.toString('base64url')}`;
}
