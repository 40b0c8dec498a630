import type { App } from "../app/app.ts";
import type { AnalysisSettings } from "./pipeline.ts";
import { AnalysisService } from "./service.ts";

const services = new WeakMap<App, AnalysisService>();

export function analysisSettings(app: App): AnalysisSettings {
  const c = app.config;
  return {
    githubApiUrl: c.github.apiUrl,
    githubToken: c.github.token,
    anthropic: { ...c.anthropic },
    npmUrl: c.local.npmRegistryUrl,
    npmToken: c.local.npmToken,
    pypiUrl: c.pypi.url,
    httpTimeoutMs: c.analysis.httpTimeoutMs,
  };
}

/** The app's analysis service (one per App); the lead wires verification with `setPoolFactory`. */
export function analysisServiceOf(app: App): AnalysisService {
  let s = services.get(app);
  if (!s) {
    const service = new AnalysisService({
      db: app.store.db,
      settings: analysisSettings(app),
      log: app.log,
      verifyTimeoutMs: app.config.analysis.verifyTimeoutMs,
    });
    // Steps update an analysis's row; one untouched for an hour is not running on any host.
    service.store
      .failInterrupted(app.store.embedded ? undefined : new Date(Date.now() - 3_600_000))
      .catch((e: unknown) => app.log.warn("cannot mark interrupted analyses", { error: e }));
    app.onClose(() => service.close());
    services.set(app, service);
    s = service;
  }
  return s;
}
