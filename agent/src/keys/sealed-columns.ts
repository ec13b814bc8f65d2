/**
 * AADs of the secret columns sign-in writes, in the store's convention
 * (`<table>/<primary key parts>/<column>`): a blob copied to another user's row does not open.
 */
export const sealedColumn = {
  passwordVerifier: (userId: string) => `verifiers/${userId}/password//sealed`,
  refreshToken: (sessionId: string) => `sessions/${sessionId}/refresh_sealed`,
  totpSecret: (userId: string) => `verifiers/${userId}/totp//sealed`,
};
