/**
 * The only module that reads `process.env`. Everything else receives values from here, so that
 * tests can run several servers side by side in one process and so that no code path can leak the
 * server's own environment (master key, API keys) into a child process by accident.
 */
export type EnvVars = Readonly<Record<string, string | undefined>>;

/** A frozen copy of the process environment at the time of the call. */
export function processEnv(): EnvVars {
  return Object.freeze({ ...process.env });
}

/** Variables that describe the host rather than Catwalk; children may receive a minimal subset. */
export interface HostEnv {
  home: string | undefined;
  path: string | undefined;
  tmpdir: string | undefined;
  xdgDataHome: string | undefined;
  xdgConfigHome: string | undefined;
  noColor: boolean;
  lang: string | undefined;
}

export function hostEnv(env: EnvVars = processEnv()): HostEnv {
  return {
    home: env.HOME,
    path: env.PATH,
    tmpdir: env.TMPDIR,
    xdgDataHome: env.XDG_DATA_HOME,
    xdgConfigHome: env.XDG_CONFIG_HOME,
    noColor: env.NO_COLOR !== undefined && env.NO_COLOR !== "",
    lang: env.LANG,
  };
}
