import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/**/*.sql.ts",
  out: "./drizzle",
  dbCredentials: { url: "file:./.catwalk/drizzle-kit.db" },
});
