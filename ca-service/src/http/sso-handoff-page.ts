/** No script, no outside resource; the form posts only back to this CA. */
export const HANDOFF_PAGE_CSP =
  "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;

const codeForm = (handoffId: string, confirmToken: string) =>
  `<form method="post" action="/v1/sso/handoffs/${encodeURIComponent(handoffId)}/confirm">` +
  `<input type="hidden" name="confirmToken" value="${escapeHtml(confirmToken)}">` +
  '<label for="userCode">The code the device shows</label> ' +
  '<input id="userCode" name="userCode" autocomplete="off" autocapitalize="characters" required maxlength="20"> ' +
  '<button type="submit">Sign the device in</button></form>';

/**
 * After the provider, before the device gets anything: who is being signed in, where, and the
 * device's code to type. The names come from the CA's store (a provider or a user may have put
 * markup in them), so everything is escaped.
 */
export function handoffConfirmPage(input: {
  handoffId: string;
  confirmToken: string;
  tenantName: string;
  username: string;
  deviceId: string;
}): string {
  return page(
    'Sign a device in',
    `<p>You are signing <strong>${escapeHtml(input.username)}</strong> (${escapeHtml(input.tenantName)}) in on device <code>${escapeHtml(input.deviceId)}</code>.</p>` +
      '<p>Only go on if you started this sign-in yourself, on a device in front of you. If someone sent you this link, stop here.</p>' +
      codeForm(input.handoffId, input.confirmToken),
  );
}

/** A refused confirmation, for a person at a browser: the reason, and the form again if tries are left. */
export function handoffRefusedPage(input: {
  handoffId: string;
  confirmToken: string;
  message: string;
  retry: boolean;
}): string {
  return page(
    'The device is not signed in',
    `<p role="alert">${escapeHtml(input.message)}</p>` +
      (input.retry ? codeForm(input.handoffId, input.confirmToken) : ''),
  );
}

export function handoffDonePage(): string {
  return page(
    'Device signed in',
    '<p>Go back to the device: it finishes the sign-in by itself. You can close this page.</p>',
  );
}
