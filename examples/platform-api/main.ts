/** `npm run example:platform-api`: LATCHKEY_URL, LATCHKEY_API_KEY (a keys:verify key), PORT. */
import { buildPlatformApi } from "./app.js";

const latchkeyUrl = process.env.LATCHKEY_URL ?? "http://127.0.0.1:8080";
const apiKey = process.env.LATCHKEY_API_KEY;
if (!apiKey) {
  process.stderr.write(
    "platform-api: set LATCHKEY_API_KEY to a Latchkey key with the keys:verify scope\n" +
      "  (verifying is a service privilege: as staff, or as an account staff made a service with\n" +
      "  `latchkey users set ID --service`, run: latchkey token create platform-api --scope keys:verify)\n",
  );
  process.exit(2);
}

const { app } = await buildPlatformApi({ latchkeyUrl, apiKey });
const port = Number(process.env.PORT ?? 3000);
const address = await app.listen({ port, host: process.env.HOST ?? "127.0.0.1" });
process.stdout.write(`platform-api listening on ${address} (Latchkey at ${latchkeyUrl})\n`);
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void app.close().then(() => process.exit(0)));
