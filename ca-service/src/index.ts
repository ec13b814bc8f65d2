export const CA_SERVICE_NAME = 'lantern-ca';
