import { z } from "zod";

/** Zod shapes of the credential schema and issues, for API responses and the OpenAPI document. */
export const CredentialPropertySchema = z.object({
  type: z.literal("string"),
  title: z.string(),
  description: z.string().optional(),
  default: z.string().optional(),
  enum: z.array(z.string()).optional(),
  pattern: z.string().optional(),
  minLength: z.number().optional(),
  maxLength: z.number(),
  format: z.literal("password").optional(),
  writeOnly: z.literal(true).optional(),
  "x-catwalk-format": z.enum(["string", "number", "boolean", "filepath"]),
  "x-catwalk-secret": z.boolean(),
});

export const CredentialSchemaSchema = z.object({
  $schema: z.literal("https://json-schema.org/draft/2020-12/schema"),
  type: z.literal("object"),
  title: z.string(),
  properties: z.record(z.string(), CredentialPropertySchema),
  required: z.array(z.string()),
  additionalProperties: z.literal(false),
});

export const CredentialIssueSchema = z.object({
  field: z.string(),
  code: z.enum(["missing", "empty", "invalid", "unknown", "reserved", "not_string"]),
  message: z.string(),
});
