/** JSON Schema for a `:id` route parameter holding a Lantern id of one prefix. */
export function idParam(prefix: string) {
  return {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: `^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$` } },
  } as const;
}
