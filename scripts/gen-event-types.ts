import { writeFileSync } from 'node:fs';
import { EVENT_CATALOGUE } from '@lantern/shared';
import { EVENT_TYPES_FILE, renderEventPayloadTypes } from './event-types.js';

writeFileSync(EVENT_TYPES_FILE, await renderEventPayloadTypes(EVENT_CATALOGUE));
console.log(`wrote ${EVENT_TYPES_FILE.pathname}`);
