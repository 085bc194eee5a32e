// The client scenario through openapi-fetch, typed by openapi-typescript from the live
// document. tests/clients/run.py generates ./schema.ts next to this file's copy,
// compiles it with `tsc --strict` and runs it on Node.js with the server's URL.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

// The two things this script needs from Node.js, without its type package.
declare const process: { argv: string[]; exit(code: number): never };

function step(name: string, ok: boolean, detail: unknown = ""): void {
  console.log(`${ok ? "ok  " : "FAIL"} ${name} ${detail === "" ? "" : JSON.stringify(detail)}`);
  if (!ok) process.exit(1);
}

const baseUrl = process.argv[2];
const client = createClient<paths>({ baseUrl });
const email = `ts-${Math.random().toString(16).slice(2, 10)}@example.com`;
const password = "orchid mantle 91";

const signup = await client.POST("/v1/users", { body: { email, name: "Ts Client", password } });
step("sign up", signup.response.status === 201 && typeof signup.data?.data.id === "number");

const token = await client.POST("/v1/auth/token", { body: { email, password } });
const accessToken = token.data?.data.access_token;
step("take a token", typeof accessToken === "string");
const auth = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${accessToken}` } });

const ids: number[] = [];
for (let n = 0; n < 3; n++) {
  const created = await auth.POST("/v1/aliases", { body: { target: `to${n}@example.com` } });
  step(`create alias ${n + 1}`, created.response.status === 201 && created.data !== undefined);
  ids.push(created.data!.data.id);
}

function listPage(cursor: string | undefined) {
  return auth.GET("/v1/aliases", { params: { query: { limit: 2, cursor } } });
}

const seen: number[] = [];
let cursor: string | undefined = undefined;
for (;;) {
  const page = await listPage(cursor);
  step("list a page", page.data !== undefined, page.response.status);
  seen.push(...page.data!.data.map((alias) => alias.id));
  if (!page.data!.meta.has_more) break;
  cursor = page.data!.meta.next_cursor;
}
step("the cursor walk saw each alias once", [...seen].sort().join() === [...ids].sort().join(), seen);

const path = { alias_id: ids[0] };
const first = await auth.GET("/v1/aliases/{alias_id}", { params: { path } });
const etag = first.response.headers.get("ETag") ?? "";
const again = await auth.GET("/v1/aliases/{alias_id}", {
  params: { path, header: { "If-None-Match": etag } },
});
step("GET with If-None-Match", again.response.status === 304, again.response.status);

const description = "changed by the TypeScript client";
const stale = await auth.PATCH("/v1/aliases/{alias_id}", {
  params: { path, header: { "If-Match": '"stale"' } },
  body: { description },
});
step("PATCH with a stale If-Match", stale.response.status === 412 && stale.error?.status === 412);
const fresh = await auth.PATCH("/v1/aliases/{alias_id}", {
  params: { path, header: { "If-Match": etag } },
  body: { description },
});
step("PATCH with the right If-Match", fresh.data?.data.description === description);

const deleted = await auth.DELETE("/v1/aliases/{alias_id}", { params: { path } });
step("DELETE", deleted.response.status === 204, deleted.response.status);

const keyed = { params: { header: { "Idempotency-Key": "ts-retry-1" } }, body: { target: "retried@example.com" } };
const sent = [await auth.POST("/v1/aliases", keyed), await auth.POST("/v1/aliases", keyed)];
step(
  "a retry with its Idempotency-Key replays the alias",
  sent[0].data?.data.id === sent[1].data?.data.id && sent[1].response.headers.get("Idempotent-Replayed") === "true",
  sent.map((answer) => answer.response.status),
);

const invalid = await auth.POST("/v1/aliases", { body: { target: "not an address" } });
const firstError = invalid.error?.errors?.[0];
step("a validation problem", invalid.response.status === 422, invalid.error);
step("it names the field", firstError !== undefined && "pointer" in firstError && firstError.pointer === "#/target");

const divided = await client.GET("/v1/calc/divide", { params: { query: { a: 1, b: 0 } } });
step("divide by zero", divided.error?.status === 422, divided.error?.title);
console.log("typescript client scenario: all steps passed");
