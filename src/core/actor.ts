/**
 * Who did something, as the audit log names it: `key:<id>` for an API key, `session:<id>` for
 * a signed-in session, null for an anonymous step (signup, a failed sign-in). Built only here.
 */
export function actorOf(by: { keyId?: string | null; sessionId?: string | null }): string | null {
  if (by.keyId) return `key:${by.keyId}`;
  if (by.sessionId) return `session:${by.sessionId}`;
  return null;
}

/** The session an actor names (`session:<id>`), else null (a key, or nobody). */
export function sessionOfActor(actor: string | null | undefined): string | null {
  return actor?.startsWith("session:") ? actor.slice("session:".length) : null;
}
