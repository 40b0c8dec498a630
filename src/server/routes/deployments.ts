import { Elysia } from "elysia";
import { z } from "zod";
import type { Services } from "../../app/services.ts";
import { CreateInput, DeploymentInfo } from "../../deployment/deployment.ts";

const Created = DeploymentInfo.extend({
  token: z.string().describe("access token for the endpoint; shown only now"),
});
const Ref = z.object({ id: z.string().describe("deployment id (dep_…) or slug") });

/** Deployments: create, list, show, remove. Handlers only validate and call the manager. */
export function deploymentRoutes(services: Services) {
  const { manager } = services;
  return new Elysia({ name: "routes.deployments", prefix: "/api/deployments" })
    .post(
      "",
      async ({ body, status }) => {
        const { info, token } = await manager.create(body);
        return status(201, { ...info, token });
      },
      {
        body: CreateInput,
        response: { 201: Created },
        detail: { operationId: "deployments.create", summary: "Deploy a server", tags: ["deployments"] },
      },
    )
    .get("", async () => ({ deployments: await manager.list() }), {
      response: { 200: z.object({ deployments: z.array(DeploymentInfo) }) },
      detail: { operationId: "deployments.list", summary: "List deployments", tags: ["deployments"] },
    })
    .get("/:id", ({ params }) => manager.get(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: { operationId: "deployments.get", summary: "Show a deployment", tags: ["deployments"] },
    })
    .delete("/:id", ({ params }) => manager.remove(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: {
        operationId: "deployments.delete",
        summary: "Remove a deployment, its credentials, tokens and runtime resources",
        tags: ["deployments"],
      },
    });
}
