/** CLI options for a key's usage credits and named rate limits (issue 20). */
import { Command } from "commander";
import type { KeyRecordT, NamedLimitT, OwnerLimitsT } from "../api/keys.js";
import { contextOf, withCommonOptions, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import { count } from "./output.js";

/** `--credits 1000`: a whole number of calls (or of `cost`). */
export function parseCredits(text: string): number {
  if (!/^[0-9]{1,13}$/.test(text.trim()))
    throw usageError("--credits must be a whole number, e.g. 1000");
  return Number(text.trim());
}

/** `--refill 1000/daily` or `1000/monthly`. */
export function parseRefill(text: string): { amount: number; interval: "daily" | "monthly" } {
  const match = /^([1-9][0-9]{0,12})\/(daily|monthly)$/.exec(text.trim());
  if (!match)
    throw usageError("--refill must read AMOUNT/daily or AMOUNT/monthly, e.g. 1000/daily");
  return { amount: Number(match[1]), interval: match[2] as "daily" | "monthly" };
}

export interface LimitOption {
  name: string;
  limit: number;
  window: string;
  cost?: number;
}

/** `--ratelimit api=100/1m` (or `api=100/1m:5` for a cost of 5 per call); repeatable. */
export function collectLimit(text: string, previous: LimitOption[] = []): LimitOption[] {
  const match =
    /^([A-Za-z0-9_.:-]{1,64})=([1-9][0-9]{0,9})\/([1-9][0-9]{0,5}[smhd])(?::([0-9]{1,7}))?$/.exec(
      text.trim(),
    );
  if (!match)
    throw usageError(
      "--ratelimit must read NAME=LIMIT/WINDOW[:COST], e.g. api=100/1m or api=100/1m:5",
    );
  const limit: LimitOption = { name: match[1]!, limit: Number(match[2]), window: match[3]! };
  if (match[4] !== undefined) limit.cost = Number(match[4]);
  return [...previous, limit];
}

/** What `token create` and `token edit` send for the credit and limit options. */
export interface LimitOptions {
  credits?: number;
  refill?: { amount: number; interval: "daily" | "monthly" };
  ratelimit?: LimitOption[];
  clearCredits?: boolean;
  clearRefill?: boolean;
  clearRatelimits?: boolean;
}

export function limitBody(options: LimitOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (options.credits !== undefined && options.clearCredits)
    throw usageError("give --credits or --clear-credits, not both");
  if (options.refill !== undefined && options.clearRefill)
    throw usageError("give --refill or --clear-refill, not both");
  if (options.ratelimit !== undefined && options.clearRatelimits)
    throw usageError("give --ratelimit or --clear-ratelimits, not both");
  if (options.credits !== undefined) body.remaining = options.credits;
  if (options.clearCredits) body.remaining = null;
  if (options.refill !== undefined) body.refill = options.refill;
  if (options.clearRefill) body.refill = null;
  if (options.ratelimit !== undefined) body.ratelimits = options.ratelimit;
  if (options.clearRatelimits) body.ratelimits = null;
  return body;
}

export function limitSummary(limit: NamedLimitT): string {
  return `${limit.name}: ${count(limit.limit)} per ${limit.window}${limit.cost === 1 ? "" : ` (cost ${limit.cost})`}`;
}

/** The lines `token show` adds for a key with credits or named limits. */
export function limitFields(k: KeyRecordT): [string, string][] {
  const lines: [string, string][] = [];
  if (k.remaining !== null)
    lines.push([
      "Credits",
      `${count(k.remaining)} left` +
        (k.refill ? `, refilled to ${count(k.refill.amount)} ${k.refill.interval} (UTC)` : ""),
    ]);
  if (k.ratelimits.length > 0)
    lines.push(["Rate limits", k.ratelimits.map(limitSummary).join("\n")]);
  return lines;
}

interface OwnerLimitOptions extends CommonOptions {
  ratelimit?: LimitOption[];
  clear?: boolean;
}

/** `latchkey users limits ID [--ratelimit …] [--clear]`: show, or replace, an owner's limits. */
async function ownerLimits(id: string, options: OwnerLimitOptions): Promise<void> {
  if (options.ratelimit !== undefined && options.clear)
    throw usageError("give --ratelimit or --clear, not both");
  const cli = contextOf(options);
  const path = `/v1/admin/owners/${encodeURIComponent(id)}/ratelimits`;
  const changing = options.ratelimit !== undefined || options.clear === true;
  const answer = changing
    ? await cli.api.patch<OwnerLimitsT>(path, { ratelimits: options.ratelimit ?? [] })
    : await cli.api.get<OwnerLimitsT>(path);
  cli.out.result(answer, (s) => {
    const head = changing ? `${s.green("✓")} Set the limits of ${s.bold(id)}.\n` : "";
    if (answer.ratelimits.length === 0) return `${head}${id} has no named rate limits.\n`;
    return `${head}${answer.ratelimits.map((l) => `  ${limitSummary(l)}\n`).join("")}`;
  });
}

export function ownerLimitsCommand(): Command {
  return withCommonOptions(
    new Command("limits")
      .description(
        "an owner's named rate limits, shared by all of its keys: show them, or replace them",
      )
      .argument("<id>", "user id (usr_…)")
      .option(
        "--ratelimit <name=limit/window>",
        "a limit, e.g. api=1000/1m (repeat; replaces all)",
        collectLimit,
      )
      .option("--clear", "remove every named limit of the owner"),
  ).action(ownerLimits);
}
