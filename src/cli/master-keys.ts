/**
 * `latchkey admin master-keys` and `latchkey admin rotate-master-key`: the master-key ring,
 * worked on the database directly (as the server does), not through the API.
 */
import { basename } from "node:path";
import { Command, Option } from "commander";
import { loadConfig, type Config } from "../config.js";
import { SecretBox } from "../infra/secret-box.js";
import {
  addKeyFile,
  newMasterKey,
  removeKeyFile,
  type MasterKeyRing,
} from "../infra/master-keys.js";
import { loadMasterKeys } from "../infra/secrets.js";
import {
  countHoldings,
  reencrypt,
  retireRefusal,
  total,
  type KeyHoldings,
  type ReencryptReport,
  type RingHoldings,
} from "../services/master-keys/rotation.js";
import { migrate, openDb } from "../store/db.js";
import { traitsOf } from "../store/engines.js";
import { KyselyStore } from "../store/kysely/index.js";
import type { Store } from "../store/port.js";
import { CliError, usageError } from "./exit.js";
import { isColorWanted, makeStyle, plural, table } from "./output.js";

interface CommonOptions {
  dataDir?: string;
  output?: string;
}

function configOf(options: CommonOptions): Config {
  const env = { ...process.env };
  if (options.dataDir) env.LATCHKEY_DATA_DIR = options.dataDir;
  return loadConfig(env);
}

async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const db = openDb(config.database, { poolSize: 2 });
  try {
    await migrate(db);
    return await fn(new KyselyStore(db.db, traitsOf(db.engine), null));
  } finally {
    await db.close();
  }
}

function print(text: string): void {
  process.stdout.write(text);
}

function json(value: unknown): void {
  print(JSON.stringify(value, null, 2) + "\n");
}

function sourceOf(ring: MasterKeyRing, id: string): string {
  const key = ring.keys.find((k) => k.id === id);
  if (!key) return "(not in the ring)";
  return key.version === null ? key.source : basename(key.source);
}

function holdingsJson(ring: MasterKeyRing, box: SecretBox, holdings: RingHoldings) {
  return {
    ring: ring.kind,
    keys: box.keyIds.map((id) => ({
      id,
      source: sourceOf(ring, id),
      seals: id === box.sealingKeyId,
      ...holdings.byKey.get(id)!,
    })),
    legacy: holdings.legacy,
    unknown: [...holdings.unknown].map(([id, held]) => ({ id, ...held })),
  };
}

function holdingsTable(ring: MasterKeyRing, box: SecretBox, holdings: RingHoldings): string {
  const s = makeStyle(isColorWanted(process.stdout, process.env));
  const row = (id: string, source: string, seals: string, held: KeyHoldings) => [
    id,
    source,
    seals,
    String(held.totp_secrets),
    String(held.pending_mail),
    String(held.webhook_secrets),
    String(held.backup_codes),
  ];
  const rows = box.keyIds.map((id) =>
    row(id, sourceOf(ring, id), id === box.sealingKeyId ? "yes" : "", holdings.byKey.get(id)!),
  );
  for (const [id, held] of holdings.unknown) rows.push(row(id, "(not in the ring!)", "", held));
  let text = table(
    [
      { header: "KEY ID" },
      { header: "SOURCE" },
      { header: "SEALS" },
      { header: "TOTP SECRETS", align: "right" },
      { header: "PENDING MAIL", align: "right" },
      { header: "WEBHOOK SECRETS", align: "right" },
      { header: "BACKUP CODES", align: "right" },
    ],
    rows,
    s,
  );
  if (total(holdings.legacy) > 0)
    text += `The oldest key's counts include ${plural(total(holdings.legacy), "value")} from before key versions (v1).\n`;
  if (holdings.unknown.size > 0)
    text += s.red("Some values name a key the ring does not hold: they cannot be opened.\n");
  return text;
}

async function status(options: CommonOptions): Promise<void> {
  const config = configOf(options);
  const ring = loadMasterKeys(config);
  const box = new SecretBox(ring);
  const holdings = await withStore(config, (store) => countHoldings(store, box));
  if (options.output === "json") json(holdingsJson(ring, box, holdings));
  else print(holdingsTable(ring, box, holdings));
}

function reencryptLines(report: ReencryptReport): string[] {
  const lines = [
    `Re-encrypted under ${report.keyId}: ${plural(report.totp_secrets, "TOTP secret")}, ${plural(report.pending_mail, "pending mail")}, ${plural(report.webhook_secrets, "webhook secret")}` +
      (report.skipped
        ? ` (${report.skipped} changed meanwhile, left as the server wrote them)`
        : "") +
      ".",
  ];
  if (report.failed.length > 0)
    lines.push(
      `Not opened by any key of the ring: ${report.failed.map((f) => `${f.column} ${f.id}`).join(", ")}.`,
    );
  return lines;
}

function leftLines(box: SecretBox, holdings: RingHoldings): string[] {
  const lines: string[] = [];
  for (const [id, held] of holdings.byKey) {
    if (id === box.sealingKeyId || total(held) === 0) continue;
    lines.push(
      `Still under ${id}: ${plural(held.totp_secrets, "TOTP secret")}, ${plural(held.pending_mail, "pending mail")}, ${plural(held.webhook_secrets, "webhook secret")}, ${plural(held.backup_codes, "backup code")}.`,
    );
  }
  return lines;
}

interface RotateOptions extends CommonOptions {
  retire?: string;
  reencrypt?: boolean;
  batchSize?: string;
}

/**
 * Audits a master-key operation (ASVS 16.3.x: changes to key material are logged), as the
 * platform-wide event it is: no user, no actor but the host's operator, never the key.
 */
async function recordKeyEvent(
  store: Store,
  event: "master_key_rotated" | "master_key_reencrypted" | "master_key_retired",
  details: Record<string, unknown>,
): Promise<void> {
  await store.audit.insert({
    at: Date.now(),
    user_id: null,
    actor: null,
    event,
    ip: null,
    details: JSON.stringify({ via: "latchkey admin rotate-master-key", ...details }),
  });
}

function reencryptedCounts(report: ReencryptReport): Record<string, unknown> {
  return { ...report, failed: report.failed.length };
}

async function runReencrypt(
  config: Config,
  box: SecretBox,
  batchSize: number,
  event: {
    name: "master_key_rotated" | "master_key_reencrypted";
    details?: Record<string, unknown>;
  },
) {
  return withStore(config, async (store) => {
    const report = await reencrypt(store, box, { batchSize });
    await recordKeyEvent(store, event.name, {
      sealing_key_id: box.sealingKeyId,
      ...event.details,
      reencrypted: reencryptedCounts(report),
    });
    return { report, holdings: await countHoldings(store, box) };
  });
}

function failIfUnopened(report: ReencryptReport): void {
  if (report.failed.length > 0)
    throw new CliError(
      `${plural(report.failed.length, "value")} could not be opened with any key of the ring`,
    );
}

async function rotateFiles(
  config: Config,
  ring: MasterKeyRing,
  options: RotateOptions,
  batch: number,
): Promise<void> {
  const added = addKeyFile(ring);
  const now = loadMasterKeys(config);
  const box = new SecretBox(now);
  const { report, holdings } = await runReencrypt(config, box, batch, {
    name: "master_key_rotated",
    details: { key_id: added.id, ring: "files" },
  });
  if (options.output === "json") {
    json({
      key_id: added.id,
      file: added.source,
      reencrypted: report,
      ...holdingsJson(now, box, holdings),
    });
  } else {
    const lines = [
      `New master key ${added.id} written to ${added.source} (mode 0600); it seals from now on.`,
      "Servers reading this data dir use it from their next sealed value (or send them SIGHUP).",
      ...reencryptLines(report),
      ...leftLines(box, holdings),
      "Backup codes cannot be re-encrypted: they keep working under their key until their users regenerate them.",
      "Run `latchkey admin master-keys` to see what each key still holds, and",
      "`latchkey admin rotate-master-key --retire KEY_ID` once an old key holds nothing.",
    ];
    print(lines.join("\n") + "\n");
  }
  failIfUnopened(report);
}

function rotateEnv(config: Config, options: RotateOptions): void {
  const fresh = newMasterKey();
  const variable = config.masterKeys!.variable;
  const steps = [
    `1. Store it in your secret store, then set LATCHKEY_MASTER_KEYS to it followed by the keys you have now`,
    `   (newest first), on every instance: LATCHKEY_MASTER_KEYS=<new key>,${variable === "LATCHKEY_MASTER_KEY" ? "<your LATCHKEY_MASTER_KEY>" : "<your LATCHKEY_MASTER_KEYS>"}` +
      (variable === "LATCHKEY_MASTER_KEY" ? " (and unset LATCHKEY_MASTER_KEY)" : ""),
    "2. Restart the instances, one after another: each then seals with the new key and opens with all.",
    "3. Run `latchkey admin rotate-master-key --reencrypt` with the new LATCHKEY_MASTER_KEYS: it",
    "   re-encrypts every TOTP secret and pending mail under the new key while the servers serve.",
    "4. `latchkey admin rotate-master-key --retire OLD_KEY_ID` tells you when the old key holds nothing.",
  ];
  if (options.output === "json") {
    json({ ring: "env", key_id: fresh.id, key: fresh.hex, steps });
    return;
  }
  print(
    [
      `New master key ${fresh.id} — shown this once, never stored by Latchkey:`,
      "",
      `  ${fresh.hex}`,
      "",
      ...steps,
      "",
    ].join("\n"),
  );
}

async function retire(config: Config, ring: MasterKeyRing, keyId: string, output?: string) {
  const box = new SecretBox(ring);
  const holdings = await withStore(config, (store) => countHoldings(store, box));
  const refusal = retireRefusal(box, holdings, keyId);
  if (refusal) {
    const hints =
      refusal.reason === "needed"
        ? [
            "re-encrypt what can be with `latchkey admin rotate-master-key --reencrypt`;",
            "backup codes move to the new key when their users regenerate them (or turn 2FA off).",
          ]
        : [];
    throw new CliError(`cannot retire: ${refusal.message}`, 1, hints);
  }
  const key = ring.keys.find((k) => k.id === keyId)!;
  if (ring.kind === "files") removeKeyFile(key);
  await withStore(config, (store) =>
    recordKeyEvent(store, "master_key_retired", { key_id: keyId, ring: ring.kind }),
  );
  const message =
    ring.kind === "files"
      ? `Master key ${keyId} holds nothing any more: deleted ${key.source}. Servers drop it at their next restart or SIGHUP.`
      : `Master key ${keyId} holds nothing any more: remove it (${key.source}) from LATCHKEY_MASTER_KEYS on every instance and restart them.`;
  if (output === "json") json({ retired: keyId, ring: ring.kind, source: key.source });
  else print(message + "\n");
}

async function rotate(options: RotateOptions): Promise<void> {
  if (options.retire !== undefined && options.reencrypt)
    throw usageError("--retire and --reencrypt go alone");
  const batch = Number(options.batchSize ?? 200);
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000)
    throw usageError("--batch-size: a whole number from 1 to 10000");
  const config = configOf(options);
  const ring = loadMasterKeys(config);
  if (options.retire !== undefined) return retire(config, ring, options.retire, options.output);
  if (options.reencrypt) {
    const box = new SecretBox(ring);
    const { report, holdings } = await runReencrypt(config, box, batch, {
      name: "master_key_reencrypted",
    });
    if (options.output === "json")
      json({ reencrypted: report, ...holdingsJson(ring, box, holdings) });
    else print([...reencryptLines(report), ...leftLines(box, holdings)].join("\n") + "\n");
    failIfUnopened(report);
    return;
  }
  if (ring.kind === "files") return rotateFiles(config, ring, options, batch);
  rotateEnv(config, options);
}

const dataDirOption = () =>
  new Option("--data-dir <dir>", "data dir (default: LATCHKEY_DATA_DIR or ./.latchkey)");
const outputOption = () =>
  new Option("-o, --output <format>", "output format").choices(["table", "json"]);

export function masterKeyCommands(): Command[] {
  const list = new Command("master-keys")
    .description("list the master keys of the ring and what each still holds")
    .addOption(dataDirOption())
    .addOption(outputOption())
    .action(status);
  const rotation = new Command("rotate-master-key")
    .description(
      "add a new master key to the ring and re-encrypt TOTP secrets and pending mail under it",
    )
    .addOption(dataDirOption())
    .option("--reencrypt", "only re-encrypt what is left under older keys (no new key)")
    .option("--retire <key-id>", "remove an old key from the ring, if nothing needs it any more")
    .option("--batch-size <n>", "rows per transaction while re-encrypting (default 200)")
    .addOption(outputOption())
    .action(rotate);
  return [list, rotation];
}
