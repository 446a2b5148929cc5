export const PLANS = ["free", "pro", "team", "enterprise"] as const;
export type Plan = (typeof PLANS)[number];

/** Active-key limits per plan (SPEC §4); null is unlimited. */
export const PLAN_KEY_LIMITS: Record<Plan, number | null> = {
  free: 2,
  pro: 10,
  team: 50,
  enterprise: null,
};

export function isPlan(value: unknown): value is Plan {
  return typeof value === "string" && (PLANS as readonly string[]).includes(value);
}
