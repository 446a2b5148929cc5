/**
 * The organization the portal acts in (issue 16): kept in this browser, sent with every API
 * call as `Latchkey-Org`, which the key, project, webhook and leak-policy routes honour (and
 * every other route ignores). Null: the person's own space.
 */
const STORAGE = "latchkey-org";
let current: string | null = readStored();
const listeners = new Set<(org: string | null) => void>();

function readStored(): string | null {
  try {
    return localStorage.getItem(STORAGE);
  } catch {
    return null;
  }
}

export function currentOrg(): string | null {
  return current;
}

export function setCurrentOrg(org: string | null): void {
  current = org;
  try {
    if (org) localStorage.setItem(STORAGE, org);
    else localStorage.removeItem(STORAGE);
  } catch {
    // storage refused (private mode): the choice lasts until the page reloads
  }
  for (const listener of listeners) listener(org);
}

export function onOrgChange(listener: (org: string | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
