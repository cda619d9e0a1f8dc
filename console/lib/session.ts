/**
 * What the console remembers: the API key and the admin token, in sessionStorage only (gone when the tab
 * closes, never shared with other tabs, never in localStorage or a cookie).
 */

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Identity {
  tenant_id: number;
  tenant_name: string;
  key_id: number;
}

const KEY = 'orderflow.api_key';
const IDENTITY = 'orderflow.identity';
const ADMIN = 'orderflow.admin_token';

export class Session {
  constructor(private readonly store: KeyValueStore) {}

  get apiKey(): string | null {
    return this.store.getItem(KEY);
  }

  get adminToken(): string | null {
    return this.store.getItem(ADMIN);
  }

  get identity(): Identity | null {
    const raw = this.store.getItem(IDENTITY);
    if (!raw || !this.apiKey) return null;
    try {
      const parsed = JSON.parse(raw) as Identity;
      return Number.isInteger(parsed.tenant_id) ? parsed : null;
    } catch {
      return null;
    }
  }

  signIn(apiKey: string, identity: Identity): void {
    this.store.setItem(KEY, apiKey);
    this.store.setItem(IDENTITY, JSON.stringify(identity));
  }

  setAdminToken(token: string | null): void {
    if (token) this.store.setItem(ADMIN, token);
    else this.store.removeItem(ADMIN);
  }

  signOut(): void {
    for (const k of [KEY, IDENTITY, ADMIN]) this.store.removeItem(k);
  }

  /** The tenant's API base path: every tenant route is under it. */
  tenantPath(rest: string): string {
    const who = this.identity;
    if (!who) throw new Error('not signed in');
    return `/api/v1/tenants/${who.tenant_id}${rest}`;
  }
}
