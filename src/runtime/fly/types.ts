/**
 * Wire shapes of the Fly Machines API (`https://api.machines.dev/v1`), as sent by fly-go and
 * documented at fly.io/docs/machines/api. Only the fields Catwalk reads or writes are typed;
 * responses carry more, which we ignore. Durations are Go duration strings ("15s").
 */

export type MachineState =
  | "created"
  | "starting"
  | "started"
  | "stopping"
  | "stopped"
  | "suspending"
  | "suspended"
  | "replacing"
  | "updating"
  | "restarting"
  | "destroying"
  | "destroyed"
  | "failed"
  | "launch_failed"
  | "replaced"
  | "migrated";

/** States `GET …/wait` accepts. */
export type WaitState = "started" | "stopped" | "suspended" | "destroyed";

export interface FlyApp {
  id: string;
  name: string;
  status?: string;
  organization?: { name?: string; slug: string };
  network?: string;
  machine_count?: number;
}

export interface AppListItem {
  id: string;
  name: string;
  machine_count?: number;
  volume_count?: number;
  network?: string;
}

export interface CreateAppRequest {
  app_name: string;
  org_slug: string;
  network?: string;
}

export interface AppSecret {
  name: string;
  digest?: string;
  created_at?: string;
  updated_at?: string;
}

export interface SecretsUpdateResponse {
  secrets: AppSecret[];
  version: number;
}

export type IpType = "v4" | "v6" | "shared_v4" | "private_v6";

export interface IpAssignment {
  ip: string;
  region: string;
  service_name?: string;
  shared: boolean;
  created_at?: string;
}

export interface AssignIpRequest {
  type: IpType;
  region?: string;
  org_slug?: string;
  network?: string;
  service_name?: string;
}

export interface MachineGuest {
  cpu_kind: "shared" | "performance";
  cpus: number;
  memory_mb: number;
}

export interface MachineServiceCheck {
  type: "http" | "tcp";
  port?: number;
  method?: string;
  path?: string;
  interval?: string;
  timeout?: string;
  grace_period?: string;
}

export interface MachinePort {
  port: number;
  handlers: string[];
  force_https?: boolean;
}

export interface MachineService {
  protocol: "tcp" | "udp";
  internal_port: number;
  autostart?: boolean;
  autostop?: "off" | "stop" | "suspend" | boolean;
  min_machines_running?: number;
  ports: MachinePort[];
  checks?: MachineServiceCheck[];
  concurrency?: { type: "connections" | "requests"; soft_limit: number; hard_limit: number };
}

export interface MachineConfig {
  image: string;
  env?: Record<string, string>;
  init?: { exec?: string[]; entrypoint?: string[]; cmd?: string[] };
  guest?: MachineGuest;
  services?: MachineService[];
  restart?: { policy: "no" | "always" | "on-failure"; max_retries?: number };
  metadata?: Record<string, string>;
  auto_destroy?: boolean;
  stop_config?: { timeout?: string; signal?: string };
  [key: string]: unknown;
}

export interface CreateMachineRequest {
  name?: string;
  region?: string;
  config: MachineConfig;
  skip_launch?: boolean;
  min_secrets_version?: number;
  lease_ttl?: number;
}

export interface UpdateMachineRequest {
  config: MachineConfig;
  current_version?: string;
  skip_launch?: boolean;
  min_secrets_version?: number;
}

export interface MachineExitEvent {
  exit_code?: number;
  oom_killed?: boolean;
  requested_stop?: boolean;
  restarting?: boolean;
  exited_at?: string;
}

export interface MachineEvent {
  id?: string;
  type: string;
  status: string;
  source?: string;
  timestamp: number;
  request?: { exit_event?: MachineExitEvent; restart_count?: number; [key: string]: unknown };
}

export interface Machine {
  id: string;
  name: string;
  state: MachineState;
  region: string;
  instance_id: string;
  private_ip?: string;
  created_at?: string;
  updated_at?: string;
  config: MachineConfig;
  events?: MachineEvent[];
  checks?: { name: string; status: string; output?: string }[];
}

export interface StartMachineResponse {
  previous_state?: string;
  migrated?: boolean;
  new_host?: string;
}

export interface LeaseData {
  nonce: string;
  expires_at: number;
  owner?: string;
  description?: string;
  version?: string;
}

export interface LeaseEnvelope {
  status: "success" | "error";
  data?: LeaseData;
  message?: string;
  code?: string;
}

/** One line of Fly's log API (`GET api.fly.io/api/v1/apps/{app}/logs`, JSON:API). */
export interface FlyLogEntry {
  timestamp: string;
  message: string;
  level: string;
  instance: string;
  region: string;
}

export interface LogsPage {
  entries: FlyLogEntry[];
  /** Cursor for the next poll; pass it back to get only newer lines. */
  nextToken: string;
}
