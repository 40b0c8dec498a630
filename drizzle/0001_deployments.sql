CREATE TABLE `access_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`deployment_id` text NOT NULL,
	`name` text NOT NULL,
	`hash` text NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `access_tokens_hash_unique` ON `access_tokens` (`hash`);--> statement-breakpoint
CREATE INDEX `access_tokens_deployment` ON `access_tokens` (`deployment_id`);--> statement-breakpoint
CREATE TABLE `credentials` (
	`id` text PRIMARY KEY NOT NULL,
	`deployment_id` text NOT NULL,
	`name` text NOT NULL,
	`value` text NOT NULL,
	`secret` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credentials_deployment_name` ON `credentials` (`deployment_id`,`name`);--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`slug` text NOT NULL,
	`name` text NOT NULL,
	`source` text NOT NULL,
	`runtime` text NOT NULL,
	`upstream` text NOT NULL,
	`session_mode` text NOT NULL,
	`desired_state` text NOT NULL,
	`state` text NOT NULL,
	`state_reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deployments_slug_unique` ON `deployments` (`slug`);