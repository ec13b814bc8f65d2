import type { ErrorCatalogueSection } from '@lantern/shared';
import { sharedErrors } from '@lantern/shared';

export const ERROR_SECTIONS: readonly ErrorCatalogueSection[] = [
  { title: 'Shared (every service)', errors: sharedErrors },
];
