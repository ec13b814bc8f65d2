/** JSON Schema for a `:id` route parameter holding a Lantern id of one prefix. */
export function idParam(prefix: string) {
  return {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: `^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$` } },
  } as const;
}

/**
 * The `?tenant=` filter of admin lists. Without a schema a repeated parameter arrives as an
 * array and reaches SQLite as one, which fails as a 500 instead of a 400.
 */
export const tenantQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { tenant: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;
