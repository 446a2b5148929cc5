import type { FastifyInstance } from "fastify";
import type { Services } from "../../services/index.js";

export function systemRoutes(app: FastifyInstance, services: Services): void {
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
    const ready = await services.deps.store.ping();
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? "ready" : "unavailable", database: ready });
  });
}
