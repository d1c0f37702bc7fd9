// A typed client of the session-tracking API: the types come from the served OpenAPI document
// (`npm run generate` writes src/schema.d.ts with openapi-typescript), the calls from openapi-fetch.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type SessionTrackingClient = Client<paths>;
export type Problem = components["schemas"]["ProblemDetails"];
export type SessionDocument = components["schemas"]["SessionDocument"];

/** A client of the gateway at `baseUrl`; `operatorKey` is sent as X-Api-Key (reads, analytics, exports). */
export function createSessionTrackingClient(baseUrl: string, operatorKey?: string): SessionTrackingClient {
  return createClient<paths>({ baseUrl, headers: operatorKey === undefined ? {} : { "X-Api-Key": operatorKey } });
}
