/**
 * Master-key rotation over the store: re-sealing every TOTP secret, pending mail and webhook
 * signing secret under the
 * ring's newest key while the servers keep serving, and counting what each key still holds,
 * so a key is retired only when nothing needs it. Backup codes cannot be re-keyed (only
 * their hash is stored): they keep verifying under their key until their owner regenerates
 * them.
 */
import type { SecretBox } from "../../infra/secret-box.js";
import type { ResealableColumn, SealedColumn, Store } from "../../store/port.js";

/** What one key still holds. */
export interface KeyHoldings {
  totp_secrets: number;
  pending_mail: number;
  webhook_secrets: number;
  backup_codes: number;
}

export interface RingHoldings {
  /** By key id; the legacy key's counts include the unversioned values. */
  byKey: Map<string, KeyHoldings>;
  /** The unversioned (v1) values, from before the ring; counted under the oldest key. */
  legacy: KeyHoldings;
  /** Values under keys the ring does not hold: they cannot be opened. */
  unknown: Map<string, KeyHoldings>;
}

export interface ReencryptReport {
  keyId: string;
  totp_secrets: number;
  pending_mail: number;
  webhook_secrets: number;
  /** Rows changed meanwhile by a request (their new value is the request's). */
  skipped: number;
  /** Values no key of the ring opens (ids only). */
  failed: { column: ResealableColumn; id: string }[];
}

export const BATCH_SIZE = 200;

const FIELDS: Record<SealedColumn, keyof KeyHoldings> = {
  totp_secret: "totp_secrets",
  mail_payload: "pending_mail",
  webhook_secret: "webhook_secrets",
  backup_code: "backup_codes",
};

const CONTEXTS: Record<ResealableColumn, (id: string) => string> = {
  totp_secret: (id) => `totp:${id}`,
  mail_payload: (id) => `mail:${id}`,
  webhook_secret: (id) => `webhook:${id}`,
};

const empty = (): KeyHoldings => ({
  totp_secrets: 0,
  pending_mail: 0,
  webhook_secrets: 0,
  backup_codes: 0,
});

export function total(holdings: KeyHoldings): number {
  return (
    holdings.totp_secrets + holdings.pending_mail + holdings.webhook_secrets + holdings.backup_codes
  );
}

/** Counts, for each key of the ring (and any other named in the rows), what it still holds. */
export async function countHoldings(store: Store, box: SecretBox): Promise<RingHoldings> {
  const byKey = new Map(box.keyIds.map((id) => [id, empty()]));
  const legacy = empty();
  const unknown = new Map<string, KeyHoldings>();
  for (const column of Object.keys(FIELDS) as SealedColumn[]) {
    const field = FIELDS[column];
    for (const [keyId, n] of await store.sealed.countByKey(column)) {
      if (keyId === "") {
        legacy[field] += n;
        byKey.get(box.legacyKeyId)![field] += n;
        continue;
      }
      const holder = byKey.get(keyId) ?? unknown.get(keyId) ?? empty();
      if (!byKey.has(keyId)) unknown.set(keyId, holder);
      holder[field] += n;
    }
  }
  return { byKey, legacy, unknown };
}

/**
 * Re-seals, in batches of `batchSize` rows per transaction, every TOTP secret and pending mail
 * not yet under the ring's sealing key. Each row is written only where it still holds the
 * value read (a conditional UPDATE), so a concurrent write — a new setup, a sent mail — is
 * never overwritten. Safe to run again: it picks up what is left.
 */
export async function reencrypt(
  store: Store,
  box: SecretBox,
  options: {
    batchSize?: number;
    onBatch?: (column: ResealableColumn, n: number) => void | Promise<void>;
  } = {},
): Promise<ReencryptReport> {
  const batchSize = options.batchSize ?? BATCH_SIZE;
  const keyId = box.sealingKeyId;
  const report: ReencryptReport = {
    keyId,
    totp_secrets: 0,
    pending_mail: 0,
    webhook_secrets: 0,
    skipped: 0,
    failed: [],
  };
  for (const column of Object.keys(CONTEXTS) as ResealableColumn[]) {
    const context = CONTEXTS[column];
    let after = "";
    for (;;) {
      const rows = await store.sealed.notUnder(column, keyId, after, batchSize);
      if (rows.length === 0) break;
      after = rows.at(-1)!.id;
      const changes = [];
      for (const row of rows) {
        try {
          changes.push({
            id: row.id,
            from: row.value,
            to: box.seal(box.open(row.value, context(row.id)), context(row.id)),
          });
        } catch {
          report.failed.push({ column, id: row.id });
        }
      }
      const written = changes.length ? await store.sealed.replace(column, changes) : 0;
      report[FIELDS[column] as "totp_secrets" | "pending_mail" | "webhook_secrets"] += written;
      report.skipped += changes.length - written;
      await options.onBatch?.(column, written);
    }
  }
  return report;
}

export interface RetireRefusal {
  /** `unknown`: no such key; `sealing`: the newest key; `needed`: rows still need it. */
  reason: "unknown" | "sealing" | "needed";
  message: string;
}

/** Why `keyId` cannot be retired yet; null when it can. */
export function retireRefusal(
  box: SecretBox,
  holdings: RingHoldings,
  keyId: string,
): RetireRefusal | null {
  if (!box.keyIds.includes(keyId))
    return {
      reason: "unknown",
      message: `no master key ${keyId} in the ring (it holds ${box.keyIds.join(", ")})`,
    };
  if (keyId === box.sealingKeyId)
    return {
      reason: "sealing",
      message: `master key ${keyId} is the newest: it seals new values; rotate first, then retire the old key`,
    };
  const held = holdings.byKey.get(keyId)!;
  if (total(held) === 0) return null;
  const parts = [
    held.totp_secrets && `${held.totp_secrets} TOTP secret(s)`,
    held.pending_mail && `${held.pending_mail} pending mail(s)`,
    held.webhook_secrets && `${held.webhook_secrets} webhook secret(s)`,
    held.backup_codes && `${held.backup_codes} unused backup code(s)`,
  ].filter(Boolean);
  return {
    reason: "needed",
    message: `master key ${keyId} is still needed by ${parts.join(", ")}`,
  };
}
