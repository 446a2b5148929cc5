import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import type { Engine } from "./db.js";

/**
 * Versioned migrations, run at start on both engines. Append new ones; never edit a
 * released one. `engine` lets a migration pick engine-specific types where needed.
 */
function migrations(engine: Engine): Record<string, Migration> {
  const autoId = engine === "postgres" ? "bigserial" : "integer";
  return {
    "0001_initial": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("users")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("email", "text", (c) => c.notNull().unique())
          .addColumn("password_hash", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("is_staff", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("plan", "text", (c) => c.notNull())
          .addColumn("disabled", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("sessions")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("amr", "text", (c) => c.notNull())
          .addColumn("ip", "text")
          .addColumn("user_agent", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("last_used_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("ended_at", "bigint")
          .addColumn("end_reason", "text")
          .execute();
        await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();

        await db.schema
          .createTable("refresh_tokens")
          .addColumn("token_hash", "text", (c) => c.primaryKey())
          .addColumn("session_id", "text", (c) =>
            c.notNull().references("sessions.id").onDelete("cascade"),
          )
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("spent_at", "bigint")
          .execute();
        await db.schema
          .createIndex("refresh_tokens_session")
          .on("refresh_tokens")
          .column("session_id")
          .execute();

        await db.schema
          .createTable("totp_factors")
          .addColumn("user_id", "text", (c) =>
            c.primaryKey().references("users.id").onDelete("cascade"),
          )
          .addColumn("secret_ciphertext", "text", (c) => c.notNull())
          .addColumn("enabled_at", "bigint")
          .addColumn("last_used_step", "bigint")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("backup_codes")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("code_hash", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("used_at", "bigint")
          .execute();
        await db.schema
          .createIndex("backup_codes_user")
          .on("backup_codes")
          .column("user_id")
          .execute();

        await db.schema
          .createTable("mfa_tokens")
          .addColumn("token_hash", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("ip", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("used_at", "bigint")
          .execute();

        await db.schema
          .createTable("projects")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("owner_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("projects_owner").on("projects").column("owner_id").execute();

        await db.schema
          .createTable("api_keys")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("owner_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("prefix", "text", (c) => c.notNull())
          .addColumn("key_hash", "text", (c) => c.notNull().unique())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("scopes", "text", (c) => c.notNull())
          .addColumn("project_id", "text", (c) => c.references("projects.id"))
          .addColumn("ip_allow", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint")
          .addColumn("revoked_at", "bigint")
          .addColumn("last_used_at", "bigint")
          .addColumn("usage_count", "bigint", (c) => c.notNull().defaultTo(0))
          .addColumn("rotated_from", "text")
          .execute();
        await db.schema.createIndex("api_keys_owner").on("api_keys").column("owner_id").execute();

        await db.schema
          .createTable("key_usage")
          .addColumn("key_id", "text", (c) =>
            c.notNull().references("api_keys.id").onDelete("cascade"),
          )
          .addColumn("hour", "bigint", (c) => c.notNull())
          .addColumn("endpoint", "text", (c) => c.notNull())
          .addColumn("project_id", "text", (c) => c.notNull())
          .addColumn("count", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("key_usage_pk", ["key_id", "hour", "endpoint", "project_id"])
          .execute();

        await db.schema
          .createTable("key_activity")
          .addColumn("id", autoId, (c) =>
            engine === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("key_id", "text", (c) =>
            c.notNull().references("api_keys.id").onDelete("cascade"),
          )
          .addColumn("at", "bigint", (c) => c.notNull())
          .addColumn("endpoint", "text", (c) => c.notNull())
          .addColumn("ip", "text")
          .addColumn("outcome", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("key_activity_key_at")
          .on("key_activity")
          .columns(["key_id", "at"])
          .execute();

        await db.schema
          .createTable("audit_log")
          .addColumn("id", autoId, (c) =>
            engine === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("at", "bigint", (c) => c.notNull())
          .addColumn("user_id", "text")
          .addColumn("actor", "text")
          .addColumn("event", "text", (c) => c.notNull())
          .addColumn("ip", "text")
          .addColumn("details", "text")
          .execute();
        await db.schema
          .createIndex("audit_log_user_at")
          .on("audit_log")
          .columns(["user_id", "at"])
          .execute();
      },
    },

    // Security fixes: key lineage (a key-minted key dies with its parent), who verified a
    // call, staff-granted verification privilege, and an absolute end to every session.
    "0002_security_bounds": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("api_keys").addColumn("parent_key_id", "text").execute();
        await db.schema
          .createIndex("api_keys_parent")
          .on("api_keys")
          .column("parent_key_id")
          .execute();
        await db.schema.alterTable("key_activity").addColumn("verified_by", "text").execute();
        await db.schema
          .alterTable("users")
          .addColumn("is_service", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.alterTable("sessions").addColumn("absolute_expires_at", "bigint").execute();
        await db.schema.alterTable("sessions").addColumn("idle_ms", "bigint").execute();
        // Sessions started before this release end 30 days after they began, like new ones.
        await sql`update sessions set absolute_expires_at = created_at + ${30 * 86_400_000}`.execute(
          db,
        );
      },
    },

    // Activity sampling under a flood: per key, the calls counted but never written as
    // activity rows.
    "0003_activity_sampled": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("key_activity_sampled")
          .addColumn("key_id", "text", (c) =>
            c.primaryKey().references("api_keys.id").onDelete("cascade"),
          )
          .addColumn("count", "bigint", (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },

    // Cached hits a verifier reports in batches: one activity row stands for `count` calls,
    // so a flood of hits writes a bounded number of rows while the count stays exact.
    "0004_activity_count": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable("key_activity")
          .addColumn("count", "integer", (c) => c.notNull().defaultTo(1))
          .execute();
      },
    },

    // Account lifecycle (SPEC §9): a verified email, one-time mailed tokens (only their
    // SHA-256 stored), and the durable outbox mail leaves from. Accounts from before this
    // release start unverified: nothing ever proved their address (see README).
    "0005_account_lifecycle": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("users").addColumn("email_verified_at", "bigint").execute();

        await db.schema
          .createTable("account_tokens")
          .addColumn("token_hash", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("purpose", "text", (c) => c.notNull())
          .addColumn("email", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("used_at", "bigint")
          .execute();
        await db.schema
          .createIndex("account_tokens_user_purpose")
          .on("account_tokens")
          .columns(["user_id", "purpose"])
          .execute();

        await db.schema
          .createTable("mail_outbox")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("kind", "text", (c) => c.notNull())
          // The message (recipient, subject, bodies) sealed under the master key: a body may
          // hold a one-time link, and the database never holds one in clear. Emptied once sent.
          .addColumn("payload", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
          .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("lease_until", "bigint")
          .addColumn("sent_at", "bigint")
          .addColumn("failed_at", "bigint")
          .addColumn("last_error", "text")
          .execute();
        await db.schema
          .createIndex("mail_outbox_due")
          .on("mail_outbox")
          .columns(["sent_at", "failed_at", "next_attempt_at"])
          .execute();
      },
    },

    // Step-up (SPEC §9): when the person behind a session last proved who they are (sign-in
    // or reauthentication), carried by every access token of the session as `auth_time`.
    // Sessions from before this release count from their sign-in, which is when that was.
    "0006_session_auth_time": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("sessions").addColumn("auth_time", "bigint").execute();
        await sql`update sessions set auth_time = created_at`.execute(db);
      },
    },

    // Key controls (issue 20): a description and the owner's metadata, which verification
    // returns so a service needs no second lookup.
    "0007_key_meta": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("api_keys").addColumn("description", "text").execute();
        await db.schema.alterTable("api_keys").addColumn("meta", "text").execute();
      },
    },

    // Disabling a key without revoking it (issue 20): refused as key_disabled until enabled.
    "0008_key_disabled": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("api_keys").addColumn("disabled_at", "bigint").execute();
      },
    },
    "0009_passkeys": {
      async up(db: Kysely<unknown>) {
        // WebAuthn credentials (SPEC §9): the public key only; the private key never leaves
        // the authenticator. credential_id and public_key are base64url text on both engines.
        await db.schema
          .createTable("passkeys")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("credential_id", "text", (c) => c.notNull().unique())
          .addColumn("public_key", "text", (c) => c.notNull())
          .addColumn("counter", "bigint", (c) => c.notNull())
          .addColumn("transports", "text", (c) => c.notNull())
          .addColumn("device_type", "text", (c) => c.notNull())
          .addColumn("backed_up", "integer", (c) => c.notNull())
          .addColumn("aaguid", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("last_used_at", "bigint")
          .execute();
        await db.schema.createIndex("passkeys_user").on("passkeys").column("user_id").execute();

        // Each ceremony's challenge: stored as SHA-256, single use, minutes long.
        await db.schema
          .createTable("webauthn_challenges")
          .addColumn("challenge_hash", "text", (c) => c.primaryKey())
          .addColumn("purpose", "text", (c) => c.notNull())
          .addColumn("user_id", "text", (c) => c.references("users.id").onDelete("cascade"))
          .addColumn("session_id", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("used_at", "bigint")
          .execute();
        await db.schema
          .createIndex("webauthn_challenges_expiry")
          .on("webauthn_challenges")
          .column("expires_at")
          .execute();
      },
    },

    // Usage credits with refill and named rate limits, per key or per owner (issue 20). The
    // credit balance is a live counter (memory or Redis) written back here periodically.
    "0010_key_limits": {
      async up(db: Kysely<unknown>) {
        const keys = () => db.schema.alterTable("api_keys");
        await keys().addColumn("credits_remaining", "bigint").execute();
        await keys().addColumn("credits_refill_amount", "bigint").execute();
        await keys().addColumn("credits_refill_interval", "text").execute();
        await keys()
          .addColumn("credits_period", "bigint", (c) => c.notNull().defaultTo(0))
          .execute();
        await keys()
          .addColumn("credits_gen", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
        await keys().addColumn("credits_pool", "text").execute();
        await keys().addColumn("ratelimits", "text").execute();
        // The balance write-back updates by pool (a key and its rotated successors).
        await db.schema
          .createIndex("api_keys_credits_pool")
          .on("api_keys")
          .column("credits_pool")
          .execute();
        await db.schema
          .createTable("owner_ratelimits")
          .addColumn("owner_id", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("limit", "bigint", (c) => c.notNull())
          .addColumn("window_ms", "bigint", (c) => c.notNull())
          .addColumn("cost", "integer", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("owner_ratelimits_pk", ["owner_id", "name"])
          .execute();
      },
    },

    // Webhooks (issue 17): endpoints, events (one row per event, a stable `webhook-id`),
    // deliveries (the durable outbox: one row per event and endpoint) and their attempts
    // (the delivery log). Leaked keys remember when and where they were seen; an owner may
    // choose to quarantine leaked keys instead of having them revoked.
    "0011_webhooks": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("webhook_endpoints")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("owner_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("url", "text", (c) => c.notNull())
          .addColumn("description", "text")
          .addColumn("events", "text", (c) => c.notNull())
          .addColumn("secret_sealed", "text", (c) => c.notNull())
          .addColumn("enabled", "integer", (c) => c.notNull().defaultTo(1))
          .addColumn("disabled_reason", "text")
          .addColumn("failing_since", "bigint")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("webhook_endpoints_owner")
          .on("webhook_endpoints")
          .column("owner_id")
          .execute();
        await db.schema
          .createTable("webhook_events")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("owner_id", "text", (c) => c.notNull())
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("payload", "text", (c) => c.notNull())
          // Events that must happen once (key.expiring for one key and threshold, an hour's
          // key.rate_limited) carry a key here: a second insert of it is a no-op.
          .addColumn("dedup_key", "text", (c) => c.unique())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("webhook_deliveries")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("event_id", "text", (c) =>
            c.notNull().references("webhook_events.id").onDelete("cascade"),
          )
          .addColumn("endpoint_id", "text", (c) =>
            c.notNull().references("webhook_endpoints.id").onDelete("cascade"),
          )
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
          .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("lease_until", "bigint")
          .addColumn("delivered_at", "bigint")
          .addColumn("failed_at", "bigint")
          .addColumn("last_status", "integer")
          .addColumn("last_latency_ms", "integer")
          .addColumn("last_error", "text")
          .execute();
        await db.schema
          .createIndex("webhook_deliveries_due")
          .on("webhook_deliveries")
          .columns(["next_attempt_at", "id"])
          .execute();
        await db.schema
          .createIndex("webhook_deliveries_endpoint")
          .on("webhook_deliveries")
          .columns(["endpoint_id", "created_at"])
          .execute();
        await db.schema
          .createTable("webhook_attempts")
          .addColumn("id", autoId, (c) =>
            engine === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("delivery_id", "text", (c) =>
            c.notNull().references("webhook_deliveries.id").onDelete("cascade"),
          )
          .addColumn("attempt", "integer", (c) => c.notNull())
          .addColumn("at", "bigint", (c) => c.notNull())
          .addColumn("status", "integer")
          .addColumn("latency_ms", "integer", (c) => c.notNull())
          .addColumn("error", "text")
          .execute();
        await db.schema
          .createIndex("webhook_attempts_delivery")
          .on("webhook_attempts")
          .column("delivery_id")
          .execute();
        const keys = () => db.schema.alterTable("api_keys");
        await keys().addColumn("leaked_at", "bigint").execute();
        await keys().addColumn("leak_source", "text").execute();
        await db.schema
          .alterTable("users")
          .addColumn("leak_policy", "text", (c) => c.notNull().defaultTo("revoke"))
          .execute();
      },
    },

    // Consecutive failed password sign-ins per email (NIST 800-63B §5.2.2: at most 100, then
    // password sign-in is suspended until a passkey sign-in or a reset). Kept here, not in the
    // limiter, so a restart does not forget them; keyed by email so unknown ones count alike.
    "0013_login_failures": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("login_failures")
          .addColumn("email", "text", (c) => c.primaryKey())
          .addColumn("failures", "integer", (c) => c.notNull())
          .addColumn("last_failed_at", "bigint", (c) => c.notNull())
          .execute();
      },
    },

    // Organizations (issue 16). An organization is an account too (`users.kind = 'org'`, as
    // GitHub keeps its organizations): it owns keys, projects, webhook endpoints and a plan
    // through the same owner columns as a person, so a key it owns survives the member who
    // minted it. `api_keys.created_by` names that member; `audit_log.org_id` files an event
    // under its organization.
    "0014_organizations": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable("users")
          .addColumn("kind", "text", (c) => c.notNull().defaultTo("user"))
          .execute();
        await db.schema
          .createTable("orgs")
          .addColumn("id", "text", (c) => c.primaryKey().references("users.id").onDelete("cascade"))
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("created_by", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addColumn("deleted_at", "bigint")
          // Policies: null where the organization sets none.
          .addColumn("max_key_lifetime_ms", "bigint")
          .addColumn("require_2fa", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("allowed_environments", "text")
          .addColumn("ip_allow", "text")
          .addColumn("allowed_scopes", "text")
          .execute();
        await db.schema
          .createTable("org_members")
          .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
          .addColumn("user_id", "text", (c) =>
            c.notNull().references("users.id").onDelete("cascade"),
          )
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("org_members_pk", ["org_id", "user_id"])
          .execute();
        await db.schema
          .createIndex("org_members_user")
          .on("org_members")
          .column("user_id")
          .execute();
        await db.schema
          .createTable("org_invitations")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
          .addColumn("email", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("token_hash", "text", (c) => c.notNull().unique())
          .addColumn("invited_by", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("accepted_at", "bigint")
          .addColumn("accepted_by", "text")
          .addColumn("revoked_at", "bigint")
          .execute();
        await db.schema
          .createIndex("org_invitations_org")
          .on("org_invitations")
          .columns(["org_id", "created_at"])
          .execute();
        await db.schema.alterTable("api_keys").addColumn("created_by", "text").execute();
        await db.schema.alterTable("audit_log").addColumn("org_id", "text").execute();
        await db.schema
          .createIndex("audit_log_org")
          .on("audit_log")
          .columns(["org_id", "id"])
          .execute();
      },
    },
  };
}

export function migrationProvider(engine: Engine): MigrationProvider {
  return { getMigrations: async () => migrations(engine) };
}
