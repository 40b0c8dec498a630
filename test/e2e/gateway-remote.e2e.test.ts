import { type EverythingHttp, startEverythingHttp } from "../helpers/everything.ts";
import { gatewaySuite } from "./gateway-suite.ts";

let everything: EverythingHttp | undefined;

gatewaySuite({
  name: "a remote Streamable HTTP server",
  async body(mode) {
    everything ??= await startEverythingHttp();
    return { source: everything.url, sessionMode: mode };
  },
  async teardown() {
    await everything?.stop();
  },
});
