import { UsageError, optionalString, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { SsoIdentityView } from '../../sso/sso-identities.js';
import type { SsoProviderView } from '../../sso/sso-providers.js';
import { adminCommand } from '../admin-command.js';
import { idArgument } from '../command-kit.js';

const describe = (view: SsoProviderView) =>
  `${view.provider} ${view.issuer} client ${view.clientId}; verified domains: ${
    view.verifiedDomains.length > 0 ? view.verifiedDomains.join(', ') : '(none: admin links only)'
  }`;

/** Single sign-on (docs/sso.md): the tenant's OpenID Connect provider and admin pre-links. */
export const ssoCommands: Command[] = [
  adminCommand({
    path: ['tenant', 'sso', 'set'],
    summary: "Set a tenant's OpenID Connect provider; the client secret is read from stdin",
    usage:
      'tenant sso set TENANT --provider google|microsoft|oidc --issuer URL --client-id ID [--verified-domains a.org,b.org] [--url U] [--data-dir D] < client-secret',
    options: {
      provider: { type: 'string' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'verified-domains': { type: 'string' },
    },
    async run(connect, values, positionals, io) {
      const [tenant] = positionals;
      if (!tenant) throw new UsageError('give the TENANT (id or slug)');
      const clientSecret = (await io.readStdin()).replace(/\r?\n$/, '');
      if (!clientSecret) throw new UsageError('give the client secret on stdin');
      const domains = optionalString(values, 'verified-domains');
      const view = await connect().request<SsoProviderView>(
        'POST',
        `/v1/admin/tenants/${encodeURIComponent(tenant)}/sso`,
        {
          provider: requireString(values, 'provider'),
          issuer: requireString(values, 'issuer'),
          clientId: requireString(values, 'client-id'),
          clientSecret,
          ...(domains ? { verifiedDomains: domains.split(',').map((d) => d.trim()) } : {}),
        },
      );
      return { json: { ...view }, human: `SSO for ${view.tenantId}: ${describe(view)}` };
    },
  }),
  adminCommand({
    path: ['tenant', 'sso', 'show'],
    summary: "Show a tenant's OpenID Connect provider (never its secret)",
    usage: 'tenant sso show TENANT [--url U] [--data-dir D]',
    options: {},
    async run(connect, _values, positionals) {
      const [tenant] = positionals;
      if (!tenant) throw new UsageError('give the TENANT (id or slug)');
      const view = await connect().request<SsoProviderView>(
        'GET',
        `/v1/admin/tenants/${encodeURIComponent(tenant)}/sso`,
      );
      return { json: { ...view }, human: describe(view) };
    },
  }),
  adminCommand({
    path: ['user', 'sso-link'],
    summary: "Link a user to their account's subject at the tenant's provider",
    usage: 'user sso-link USER_ID --subject SUB [--url U] [--data-dir D]',
    options: { subject: { type: 'string' } },
    async run(connect, values, positionals) {
      const userId = idArgument(positionals, 'usr');
      const link = await connect().request<SsoIdentityView>(
        'POST',
        `/v1/admin/users/${userId}/sso-identities`,
        { subject: requireString(values, 'subject') },
      );
      return {
        json: { ...link },
        human: `Linked ${link.userId} to ${link.issuer} subject ${link.subject}`,
      };
    },
  }),
];
