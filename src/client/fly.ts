import type { Client } from "./client.ts";

/** Catwalk's apps on Fly that no deployment claims, and those a call deleted. */
export interface FlyOrphans {
  orphaned: string[];
  deleted: string[];
}

/** Lists orphaned apps; deletes nothing. */
export function listFlyOrphans(client: Client): Promise<FlyOrphans> {
  return client.get<FlyOrphans>("/api/fly/orphans");
}

/** Deletes the orphaned apps (with their Machines, secrets and IPs). */
export function deleteFlyOrphans(client: Client): Promise<FlyOrphans> {
  return client.delete<FlyOrphans>("/api/fly/orphans");
}
