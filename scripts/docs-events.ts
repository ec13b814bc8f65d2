import { writeFileSync } from 'node:fs';
import { EVENT_CATALOGUE } from '@lantern/shared';
import { EVENTS_DOC_FILE, renderEventsDoc } from './event-docs.js';

writeFileSync(EVENTS_DOC_FILE, await renderEventsDoc(EVENT_CATALOGUE));
console.log(`wrote ${EVENTS_DOC_FILE.pathname}`);
