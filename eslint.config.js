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
  {
    files: ["src/sdk/**/*.ts", "web/**/*.ts", "web/**/*.tsx"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/store/*", "**/services/*", "**/http/*"],
              message: "the SDK and portal speak only HTTP",
            },
          ],
        },
      ],
    },
  },
);
