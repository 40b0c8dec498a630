// Every table of the store, for drizzle's typed query API. Each domain owns its `*.sql.ts` file.

export { AnalysesTable } from "../analysis/analysis.sql.ts";
export { AccessTokenTable, CredentialTable, DeploymentTable } from "../deployment/deployment.sql.ts";
export { EventTable } from "../events/events.sql.ts";
export { LogLineTable } from "../logs/logs.sql.ts";
export {
  OAuthClientTable,
  OAuthCodeTable,
  OAuthConnectCodeTable,
  OAuthGrantTable,
  OAuthRefreshTokenTable,
  OAuthSigningKeyTable,
} from "../oauth/oauth.sql.ts";
export { MetaTable } from "./meta.sql.ts";
