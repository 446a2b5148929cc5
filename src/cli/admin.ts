import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { Command, Option } from "commander";
import type { JWK } from "jose";
import { loadConfig } from "../config.js";
import { parseDuration } from "../core/durations.js";
import { newSigningJwk, signingKeysPath } from "../infra/secrets.js";
import { masterKeyCommands } from "./master-keys.js";

/**
 * `latchkey admin …`: operator commands that work on the data dir, not through the API.
 *
 * Signing-key rotation keeps every earlier key in the file so access tokens they signed
 * stay valid until they expire; the server signs with the first key and publishes all of
 * them in /.well-known/jwks.json. `retired_at` records when each key stopped signing,
 * which is what `--prune` needs to know a key can no longer have live tokens.
 */
export interface SigningKeyFile {
  keys: JWK[];
  /** kid → epoch ms when the key stopped being the signing key. */
  retired_at?: Record<string, number>;
}

export interface RotationReport {
  file: string;
  /** The new signing key. */
  kid: string;
  /** Keys still published for verification, newest first (the signing key excluded). */
  verifying: string[];
  pruned: string[];
  /** Retired keys with no recorded retirement time: kept, since their tokens' age is unknown. */
  undated: string[];
}

export interface RotationOptions {
  file: string;
  /** Drop retired keys whose last token has expired (retired more than `accessTtlMs` ago). */
  prune: boolean;
  accessTtlMs: number;
  now?: number;
}

function readKeyFile(file: string): SigningKeyFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`no signing-key file at ${file}: start the server once to create it`);
  }
  const parsed = JSON.parse(text) as Partial<SigningKeyFile> & JWK;
  // A single JWK (as LATCHKEY_SIGNING_KEY may hold) is a set of one.
  const keys = Array.isArray(parsed.keys) ? parsed.keys : [parsed as JWK];
  if (keys.length === 0 || keys.some((k) => typeof k !== "object" || !k.kid || !k.d))
    throw new Error(`${file} is not a private JWK set with a kid on every key`);
  return { keys, retired_at: { ...(parsed.retired_at ?? {}) } };
}

/** Replaces the file in one step (temp file, fsync, rename): a crash leaves old or new, never half. */
function writeKeyFile(file: string, contents: SigningKeyFile): void {
  const temp = join(dirname(file), `.signing-keys.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", 0o600);
  try {
    writeSync(fd, JSON.stringify(contents, null, 2) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
}

export async function rotateSigningKeyFile(options: RotationOptions): Promise<RotationReport> {
  const now = options.now ?? Date.now();
  const current = readKeyFile(options.file);
  const retired = current.retired_at ?? {};
  retired[current.keys[0]!.kid!] ??= now;
  const fresh = await newSigningJwk();
  let keys = [fresh, ...current.keys];
  const pruned: string[] = [];
  if (options.prune) {
    keys = keys.filter((key, index) => {
      const at = retired[key.kid!];
      const expired = index > 0 && at !== undefined && at + options.accessTtlMs <= now;
      if (expired) pruned.push(key.kid!);
      return !expired;
    });
  }
  const kept = new Set(keys.map((k) => k.kid!));
  for (const kid of Object.keys(retired)) if (!kept.has(kid)) delete retired[kid];
  writeKeyFile(options.file, { keys, retired_at: retired });
  const verifying = keys.slice(1).map((k) => k.kid!);
  return {
    file: options.file,
    kid: fresh.kid!,
    verifying,
    pruned,
    undated: verifying.filter((kid) => retired[kid] === undefined),
  };
}

function printReport(report: RotationReport, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return;
  }
  const lines = [
    `New signing key ${report.kid} written to ${report.file}.`,
    `Still accepted for verification: ${report.verifying.join(", ") || "(none)"}.`,
  ];
  if (report.pruned.length > 0)
    lines.push(`Pruned (all their tokens expired): ${report.pruned.join(", ")}.`);
  if (report.undated.length > 0)
    lines.push(`Kept, retirement time unknown: ${report.undated.join(", ")}.`);
  lines.push(
    "Restart every Latchkey instance that reads this file to start signing with the new key.",
  );
  process.stdout.write(lines.join("\n") + "\n");
}

export function adminCommand(): Command {
  const admin = new Command("admin").description("operator tasks on this machine's data dir");
  admin
    .command("rotate-signing-key")
    .description(
      "add a new JWT signing key in front of the old ones; old keys keep verifying until removed",
    )
    .option("--data-dir <dir>", "data dir (default: LATCHKEY_DATA_DIR or ./.latchkey)")
    .option("--file <path>", "rotate this JWK set file instead of <data dir>/signing-keys.json")
    .option("--prune", "drop retired keys whose tokens have all expired (access-token lifetime)")
    .option(
      "--access-ttl <duration>",
      "access-token lifetime for --prune (default LATCHKEY_ACCESS_TTL)",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json"]))
    .action(
      async (options: {
        dataDir?: string;
        file?: string;
        prune?: boolean;
        accessTtl?: string;
        output?: string;
      }) => {
        const env = { ...process.env };
        if (options.dataDir) env.LATCHKEY_DATA_DIR = options.dataDir;
        const config = loadConfig(env);
        if (config.signingKey && !options.file) {
          throw new Error(
            "the signing key comes from LATCHKEY_SIGNING_KEY: keep that JWK set in a file, rotate it " +
              "with --file, and put the result back in the variable",
          );
        }
        let accessTtlMs = config.accessTtlMs;
        if (options.accessTtl !== undefined) {
          const parsed = parseDuration(options.accessTtl);
          if (parsed === null)
            throw new Error(`--access-ttl: not a duration: ${options.accessTtl}`);
          accessTtlMs = parsed;
        }
        const report = await rotateSigningKeyFile({
          file: options.file ?? signingKeysPath(config.dataDir),
          prune: options.prune === true,
          accessTtlMs,
        });
        printReport(report, options.output === "json");
      },
    );
  for (const command of masterKeyCommands()) admin.addCommand(command);
  return admin;
}
