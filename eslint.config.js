import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "web/dist/",
      "packages/*/dist/",
      "node_modules/",
      "bench/results/",
      "test-results/",
      "bin/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts", "**/*.tsx"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-for-in-array": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["test/**/*.ts", "**/*.test.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // core is pure: no I/O, no framework, nothing of ours outside core.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["../store/*", "../services/*", "../http/*", "../cli/*", "../sdk/*"],
              message: "core imports nothing outside core",
            },
            {
              group: [
                "fastify",
                "kysely",
                "pg",
                "better-sqlite3",
                "ioredis",
                "node:fs",
                "node:net",
                "node:http",
              ],
              message: "core does no I/O",
            },
          ],
        },
      ],
    },
  },
  ...clientBoundaries(),
);

/**
 * The SDK (packages/sdk is built from src/sdk) and the portal speak only HTTP: they may use
 * src/api (the wire layer) and src/core, never the server's code or packages. The adapters
 * alone name a framework, as an optional peer.
 */
function clientBoundaries() {
  const serverCode = {
    group: [
      "**/store/*",
      "**/services/*",
      "**/services/**",
      "**/http/*",
      "**/http/**",
      "**/infra/*",
      "**/cli/*",
      "**/config.js",
      "**/logger.js",
      "**/main.js",
    ],
    message: "the SDK and portal speak only HTTP: src/api and src/core, nothing of the server",
  };
  const serverPackages = (allowed = []) => ({
    group: [
      "argon2",
      "better-sqlite3",
      "pg",
      "ioredis",
      "fastify",
      "@fastify/*",
      "fastify-type-provider-zod",
      "kysely",
      "pino",
      "prom-client",
      "qrcode",
      "commander",
      "otpauth",
      "express",
      "hono",
    ].filter((name) => !allowed.includes(name)),
    message: "a service installs the SDK alone: no server package (frameworks only in adapters/)",
  });
  const rule = (...patterns) => ({ "no-restricted-imports": ["error", { patterns }] });
  return [
    {
      files: ["src/sdk/**/*.ts", "web/**/*.ts", "web/**/*.tsx"],
      rules: rule(serverCode, serverPackages()),
    },
    {
      files: ["src/sdk/adapters/fastify.ts"],
      rules: rule(serverCode, serverPackages(["fastify"])),
    },
    {
      files: ["src/sdk/adapters/express.ts"],
      rules: rule(serverCode, serverPackages(["express"])),
    },
    { files: ["src/sdk/adapters/hono.ts"], rules: rule(serverCode, serverPackages(["hono"])) },
    {
      // The portal takes the wire types, not the schemas: only http-client.ts (no zod) at run time.
      files: ["web/**/*.ts", "web/**/*.tsx"],
      rules: {
        "@typescript-eslint/no-restricted-imports": [
          "error",
          {
            patterns: [
              {
                group: ["**/api/*", "!**/api/http-client.js"],
                allowTypeImports: true,
                message: "the portal imports the wire schemas as types only (no zod in the bundle)",
              },
              {
                group: ["zod", "zod/*"],
                allowTypeImports: true,
                message: "no zod in the portal's bundle: the server validates",
              },
            ],
          },
        ],
      },
    },
  ];
}
