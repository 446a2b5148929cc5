import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "web/dist/", "node_modules/", "bench/results/", "test-results/", "bin/"] },
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
    {
      files: ["src/sdk/**/*.ts", "web/**/*.ts", "web/**/*.tsx"],
      ours: ["**/store/*", "**/services/**", "**/infra/*", "**/http/**", "**/cli/*"],
      why: "the SDK and portal speak only HTTP",
    },
  ]),
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
