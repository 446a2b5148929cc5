import { randomFillSync } from "node:crypto";
import swagger from "@fastify/swagger";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, validatorCompiler } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { LatchkeyError } from "../core/errors.js";
import type { Services } from "../services/index.js";
import { registerAuth } from "./auth.js";
import { errorBody, handleClientError, handleError } from "./errors.js";
import { jsonBodyParser, nulInUrl } from "./input-guard.js";
import { registerMetrics } from "./metrics.js";
import { lazyRequestLogger } from "./request-logger.js";
import { routeOf } from "./request.js";
import { auditRoutes } from "./routes/audit.js";
import { adminRoutes } from "./routes/admin.js";
import { portalRoutes } from "./portal.js";
import { apiKeyRoutes } from "./routes/api-keys.js";
import { authRoutes } from "./routes/auth.js";
import { keyExchangeRoutes } from "./routes/key-exchange.js";
import { keyUsageRoutes } from "./routes/key-usage.js";
import { leakRoutes } from "./routes/leaks.js";
import { orgRoutes } from "./routes/orgs.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { revocationRoutes } from "./routes/revocations.js";
import { projectRoutes } from "./routes/projects.js";
import { systemRoutes } from "./routes/system.js";
import { verifyRoutes } from "./routes/verify.js";
import { twofaRoutes } from "./routes/twofa.js";
import { passkeyRoutes } from "./routes/passkeys.js";

export type App = FastifyInstance;

const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;

// Request ids as before (`req_` + 9 random bytes, base64url), drawn from a pool refilled
// every 512 ids: one CSPRNG call per request cost ~1-6 µs on the hot path (bench/).
const ID_BYTES = 9;
const idPool = Buffer.alloc(ID_BYTES * 512);
let idOffset = idPool.length;

function newRequestId(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = idPool.toString("base64url", idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return `req_${id}`;
}
export const BODY_LIMIT = 64 * 1024;

/**
 * A hop count trusts that many proxies in front, counted from the socket: the client address
 * is the entry that many steps from the right of X-Forwarded-For, never one a client wrote
 * further left. (Fastify's own number form trusts nothing, so it is a function here.)
 */
function trustProxyOption(trust: false | number | string[]) {
  if (typeof trust === "number") return (_address: string, hop: number) => hop < trust;
  return trust;
}

export async function buildApp(services: Services, logger: Logger): Promise<App> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request lines go out at debug level from our own hook (below), not at info.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: BODY_LIMIT,
    trustProxy: trustProxyOption(services.deps.config.trustProxy),
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : newRequestId();
    },
    ajv: { customOptions: { removeAdditional: false } },
    routerOptions: { maxParamLength: 200 },
    // Bad URLs, over-long ids and unparseable HTTP answer in the spec's error shape too.
    frameworkErrors: handleError,
    clientErrorHandler: handleClientError,
    // Node would answer a missing Host with an empty 400; the hook below answers it as JSON.
    http: { requireHostHeader: false },
  });

  app.decorateRequest("route", null);
  app.setValidatorCompiler(validatorCompiler);
  // Responses are built by our own code; documenting them is enough, re-validating
  // each one would put schema work on the hot path.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // Hooks on every request take Fastify's callback form: an async hook costs a promise
  // and a microtask turn per request (bench/).
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    // Answers carry tokens, keys and account data: no cache or proxy keeps them, and no
    // browser guesses their type (ASVS 3.4.4, 14.3.2). Cacheable files say otherwise.
    reply.header("cache-control", "no-store");
    reply.header("x-content-type-options", "nosniff");
    if (request.raw.httpVersion === "1.1" && !request.headers.host)
      return done(new LatchkeyError("invalid_request", "an HTTP/1.1 request needs a Host header"));
    done(nulInUrl(request) ?? undefined);
  });
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser(
    "application/json",
    { parseAs: "string" },
    jsonBodyParser(app.getDefaultJsonParser("error", "error")),
  );
  // The level is fixed at start: without debug, no per-request hook at all.
  if (logger.isLevelEnabled("debug")) {
    app.addHook("onResponse", (request, reply, done) => {
      request.log.debug(
        {
          method: request.method,
          route: routeOf(request).url,
          status: reply.statusCode,
          ms: reply.elapsedTime,
        },
        "request",
      );
      done();
    });
  }

  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(
        errorBody(
          "not_found",
          `no route for ${request.method} ${request.url.split("?")[0]}`,
          request.id,
        ),
      ),
  );

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Latchkey",
        version: "0.1.0",
        description: "Accounts, sessions, TOTP 2FA and scoped API keys.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
    transform: jsonSchemaTransform,
  });

  registerMetrics(app);
  registerAuth(app, services);
  await app.register(async (scoped) => systemRoutes(scoped, services));
  await app.register(async (scoped) => authRoutes(scoped, services));
  await app.register(async (scoped) => twofaRoutes(scoped, services));
  await app.register(async (scoped) => passkeyRoutes(scoped, services));
  await app.register(async (scoped) => auditRoutes(scoped, services));
  await app.register(async (scoped) => adminRoutes(scoped, services));
  await app.register(async (scoped) => apiKeyRoutes(scoped, services));
  await app.register(async (scoped) => projectRoutes(scoped, services));
  await app.register(async (scoped) => verifyRoutes(scoped, services));
  await app.register(async (scoped) => keyUsageRoutes(scoped, services));
  await app.register(async (scoped) => keyExchangeRoutes(scoped, services));
  await app.register(async (scoped) => leakRoutes(scoped, services));
  await app.register(async (scoped) => webhookRoutes(scoped, services));
  await app.register(async (scoped) => orgRoutes(scoped, services));
  await app.register(async (scoped) => revocationRoutes(scoped, services));
  await app.register(async (scoped) => portalRoutes(scoped, services));

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}
