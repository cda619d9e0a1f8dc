import type { ApiClient } from './lib/api.js';
import type { Identity, Session } from './lib/session.js';

/** What every page gets: the tenant's client, the admin client, and who is signed in. */
export interface ConsoleContext {
  /** calls with the signed-in API key */
  api: ApiClient;
  /** calls with the admin token (Operations: tenants and keys) */
  admin: ApiClient;
  session: Session;
  tenant: Identity;
  /** `/api/v1/tenants/{id}` + rest */
  path(rest: string): string;
}

/** A mounted page: its element, and what to stop (streams, timers) when the user leaves it. */
export interface Page {
  el: HTMLElement;
  dispose?(): void;
}
