import type { SessionView } from './api';

/** What every page knows: who is signed in and which school (tenant) it acts on. */
export interface ConsoleContext {
  session: SessionView;
  tenant: string | undefined;
  tenantName: string;
  /** `tenant=` for admin API calls: the installation admin names the school, a school admin not. */
  tenantQuery: string | undefined;
  refreshTenants: (select?: string) => Promise<void>;
}
