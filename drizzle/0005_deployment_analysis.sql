ALTER TABLE `deployments` ADD `analysis_id` text;--> statement-breakpoint
ALTER TABLE `deployments` ADD `credential_schema` text;