CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`time` integer NOT NULL,
	`type` text NOT NULL,
	`deployment_id` text,
	`data` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_deployment_time` ON `events` (`deployment_id`,`time`);--> statement-breakpoint
CREATE INDEX `events_type_time` ON `events` (`type`,`time`);--> statement-breakpoint
CREATE TABLE `log_lines` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`deployment_id` text NOT NULL,
	`time` integer NOT NULL,
	`stream` text NOT NULL,
	`line` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `log_lines_deployment_id` ON `log_lines` (`deployment_id`,`id`);