CREATE TABLE `analyses` (
	`id` text PRIMARY KEY NOT NULL,
	`source` text NOT NULL,
	`repository` text NOT NULL,
	`subdir` text DEFAULT '' NOT NULL,
	`commit_sha` text NOT NULL,
	`status` text NOT NULL,
	`manifest` text,
	`warnings` text NOT NULL,
	`steps` text NOT NULL,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `analyses_cache_key` ON `analyses` (`repository`,`subdir`,`commit_sha`);