// Every table of the store, for drizzle's typed query API. Each domain owns its `*.sql.ts` file.

export { AnalysesTable } from "../analysis/analysis.sql.ts";
export { MetaTable } from "./meta.sql.ts";
