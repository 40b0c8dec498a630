// Every table of the store, for drizzle's typed query API. Each domain owns its `*.sql.ts` file.

export {
  OAuthClientTable,
  OAuthCodeTable,
  OAuthConnectCodeTable,
  OAuthGrantTable,
  OAuthRefreshTokenTable,
  OAuthSigningKeyTable,
} from "../oauth/oauth.sql.ts";
export { MetaTable } from "./meta.sql.ts";
