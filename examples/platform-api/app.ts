/**
 * A platform's own API, protected by Latchkey: every route names the scopes it needs and
 * the SDK's verifier checks the caller's access token or API key.
 */
import Fastify, { type FastifyInstance } from "fastify";
import { createVerifier, type Verifier } from "latchkey";
import { fastifyGuard } from "latchkey/fastify";

export interface PlatformApiOptions {
  /** Where Latchkey listens (LATCHKEY_URL). */
  latchkeyUrl: string;
  /** This service's own key, with `keys:verify` (LATCHKEY_API_KEY). */
  apiKey: string;
  /** Passed to the verifier; tests shorten or lengthen the cache. */
  cacheTtlMs?: number;
}

interface Service {
  id: string;
  name: string;
  status: "running" | "deploying";
  version: number;
  deployed_by: string | null;
}

function fakeServices(): Map<string, Service> {
  const rows: Service[] = [
    { id: "svc_web", name: "web", status: "running", version: 12, deployed_by: null },
    { id: "svc_api", name: "api", status: "running", version: 40, deployed_by: null },
    { id: "svc_worker", name: "worker", status: "running", version: 7, deployed_by: null },
  ];
  return new Map(rows.map((row) => [row.id, row]));
}

export async function buildPlatformApi(
  options: PlatformApiOptions,
): Promise<{ app: FastifyInstance; verifier: Verifier }> {
  const verifier = createVerifier({
    baseUrl: options.latchkeyUrl,
    apiKey: options.apiKey,
    cacheTtlMs: options.cacheTtlMs,
  });
  const guard = fastifyGuard(verifier);
  const services = fakeServices();
  const app = Fastify();
  app.addHook("onClose", async () => verifier.close());

  app.get("/v1/services", { preHandler: guard.requireScopes("services:read") }, async () => ({
    services: [...services.values()],
  }));

  app.post<{ Params: { id: string } }>(
    "/v1/services/:id/deploy",
    { preHandler: guard.requireScopes("services:write") },
    async (request, reply) => {
      const service = services.get(request.params.id);
      if (!service)
        return reply.status(404).send({
          error: { code: "not_found", message: "service not found", request_id: request.id },
        });
      service.version += 1;
      service.status = "deploying";
      // Who did it: a user's session or one of their keys (never the secret itself).
      service.deployed_by = request.latchkey!.keyId ?? request.latchkey!.userId;
      return reply.status(202).send({ service });
    },
  );

  return { app, verifier };
}
