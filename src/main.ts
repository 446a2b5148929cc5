#!/usr/bin/env node
import { loadConfig, type Config } from "./config.js";
import { buildApp, type App } from "./http/app.js";
import { createLogger } from "./logger.js";
import { createServices, type Services } from "./services/index.js";

export interface RunningServer {
  app: App;
  services: Services;
  url: string;
  /** Stops accepting, lets in-flight requests finish, flushes buffers, closes the store. */
  stop(): Promise<void>;
}

export async function startServer(
  config: Config,
  options: { now?: () => number } = {},
): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const services = await createServices({ config, logger, now: options.now });
  const app = await buildApp(services, logger);
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  let stopping: Promise<void> | null = null;
  return {
    app,
    services,
    url,
    stop() {
      stopping ??= (async () => {
        await app.close();
        await services.close();
      })();
      return stopping;
    },
  };
}

/** `latchkey serve` / `npm start`: start, print the URL, stop cleanly on SIGTERM/SIGINT. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
  const server = await startServer(config);
  const engine =
    server.services.ctx.store.engine === "postgres" ? "PostgreSQL" : `SQLite (${config.database})`;
  process.stdout.write(
    `Latchkey is listening on ${server.url} — portal: ${server.url}/ — database: ${engine}\n`,
  );
  const shutdown = (signal: string) => {
    server.app.log.info({ signal }, "shutting down");
    server
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        server.app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

const invokedDirectly =
  process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly && process.argv[2] === "serve") {
  serve().catch((error: unknown) => {
    process.stderr.write(`latchkey: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
