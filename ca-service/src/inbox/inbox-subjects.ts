export const USER_INVITED = 'tenant.org.user_invited.v1';
export const SUBJECT_REQUEST_RECEIVED = 'gdpr.subject_request.received.v1';
/** The subjects the CA consumes (DESIGN §6 Inbox); metrics start a series for each. */
export const INBOX_SUBJECTS = [USER_INVITED, SUBJECT_REQUEST_RECEIVED] as const;
