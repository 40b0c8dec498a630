import { buildInfo } from "./version.macro.ts" with { type: "macro" };

const info = buildInfo();

export const VERSION: string = info.version;
export const COMMIT: string = info.commit;
