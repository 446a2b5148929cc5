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
  // The doors are one-way: core ← api (wire) ← http / sdk / cli / web, and core ← store ← services
  // ← http. Each block names what its room may not import.
  ...doors([
    {
      files: ["src/core/**/*.ts"],
      ours: ["../*", "../../*"],
      why: "core imports nothing of ours outside core",
      io: true,
    },
    {
      files: ["src/api/**/*.ts"],
      ours: ["**/store/*", "**/services/**", "**/infra/*", "**/http/**", "**/cli/*", "**/sdk/**"],
      why: "the wire layer (api) builds on core only",
    },
    {
      files: ["src/store/**/*.ts"],
      ours: ["**/services/**", "**/http/**", "**/api/*", "**/cli/*", "**/sdk/**"],
      why: "the store imports no services, no wire types and no http",
    },
    {
      files: ["src/infra/**/*.ts"],
      ours: ["**/services/**", "**/http/**", "**/api/*", "**/cli/*", "**/sdk/**"],
      why: "infrastructure imports no services, no wire types and no http",
    },
    {
      files: ["src/services/**/*.ts"],
      ours: ["**/http/**", "**/api/*", "**/cli/*", "**/sdk/**"],
      why: "services return domain values: they import neither http nor the wire layer",
    },
    {
      files: ["src/http/routes/**/*.ts"],
      ours: ["./*", "**/cli/*", "**/sdk/**"],
      why: "routes share helpers through http/request.ts, not each other",
    },
  ]),
  // The SDK and the portal (src/sdk, web): their own blocks, below.
  ...clientBoundaries(),
  {
    // The mappers turn domain values into wire shapes: they may name the services' types,
    // never import their code.
    files: ["src/api/mappers.ts"],
    rules: {
      "no-restricted-imports": "off",
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/services/**"],
              allowTypeImports: true,
              message: "mappers import only the services' types",
            },
            {
              group: ["**/store/*", "**/infra/*", "**/http/**", "**/cli/*", "**/sdk/**"],
              message: "the wire layer (api) builds on core only",
            },
          ],
        },
      ],
    },
  },
);

/** One no-restricted-imports block per room; `io` also bans I/O and framework modules. */
function doors(rooms) {
  return rooms.map(({ files, ours, why, io }) => ({
    files,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ours, message: why },
            ...(io
              ? [
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
                ]
              : []),
          ],
        },
      ],
    },
  }));
}

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
