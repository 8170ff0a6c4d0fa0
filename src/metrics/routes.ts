/**
 * The observability endpoints of the HTTP app (mounted by ../http/app.ts when metrics are on):
 *
 *   GET /metrics     the registry in the Prometheus text format, or OpenMetrics when the
 *                    scraper's Accept header prefers `application/openmetrics-text`
 *   GET /api/stats   the dashboard's JSON (`DashboardStats`, ./service.ts; README "Dashboard")
 *   GET /dashboard   the live page (./dashboard.ts), one self-contained HTML document
 *
 * Open like /health, unless `server.metrics_auth`: then the app's authenticator guards all
 * three (a 401 names the schemes, like the export endpoints).
 */
import type { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Authenticator } from "../http/auth.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { CONTENT_TYPES, negotiate, render } from "./exposition.ts";
import type { ServiceMetrics } from "./service.ts";

export const OBSERVABILITY_PATHS = ["/metrics", "/api/stats", "/dashboard"] as const;

export function mountObservability(
  // deno-lint-ignore no-explicit-any
  app: Hono<any>,
  metrics: ServiceMetrics,
  auth: Authenticator | undefined,
): void {
  if (auth?.enabled) {
    for (const path of OBSERVABILITY_PATHS) {
      app.use(path, async (c, next) => {
        const result = await auth.check(c.req.header("authorization") ?? null);
        if (result.ok) return next();
        const headers = new Headers();
        for (const ch of auth.challenges) headers.append("www-authenticate", ch);
        throw new HTTPException(401, {
          message: result.message,
          res: new Response(null, { headers }),
        });
      });
    }
  }

  app.get("/metrics", (c) => {
    const format = negotiate(c.req.header("accept"));
    return new Response(render(metrics.registry, format), {
      headers: { "content-type": CONTENT_TYPES[format], "cache-control": "no-store" },
    });
  });

  app.get("/api/stats", () =>
    new Response(JSON.stringify(metrics.stats()), {
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    }));

  app.get("/dashboard", () =>
    new Response(DASHBOARD_HTML, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        // Everything the page needs is in it: nothing else may load.
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      },
    }));

  for (const path of OBSERVABILITY_PATHS) {
    app.all(path, () => {
      throw new HTTPException(405, {
        message: "Method not allowed: use GET",
        res: new Response(null, { headers: { allow: "GET, HEAD" } }),
      });
    });
  }
}
