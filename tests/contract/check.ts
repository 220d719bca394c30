// `tsc --noEmit` over this file (make test): the TypeScript client generated from openapi.yaml
// (openapi-typescript + openapi-fetch) types every body and answer. Each `@ts-expect-error`
// fails the check if the line it marks type-checks after all.
import createClient from "openapi-fetch";
import type { components, paths } from "../../.local/client/api";

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:9000" });

export async function tour(): Promise<void> {
  const patch = { params: { path: { item_id: 13 } } };
  await api.PATCH("/api/v1/admin/items/{item_id}", { ...patch, body: { price: 1300 } });
  await api.PATCH("/api/v1/admin/items/{item_id}", { ...patch, body: { restock: 10 } });
  // @ts-expect-error a price is an integer, not a string
  await api.PATCH("/api/v1/admin/items/{item_id}", { ...patch, body: { price: "13.00" } });
  // @ts-expect-error a number is no change. (Passed to openapi-fetch 0.17 it would type-check:
  // its request bodies are intersections, which TypeScript does not check for "weak" types,
  // those whose every member is optional. The generated type itself refuses it.)
  const notAChange: components["schemas"]["ItemChange"] = 42;
  void notAChange;

  const cart = { params: { path: { cart_id: "x" }, header: { "Idempotency-Key": "k" } } };
  const { data, error, response } = await api.POST("/api/v1/cart/{cart_id}/purchase", { ...cart, body: {} });
  if (data) {
    const total: number = data.order.total;
    void total;
  } else if (error) {
    // Every problem is typed: its code is one of the codes the operation documents.
    const code: components["schemas"]["ProblemCode"] = error.code;
    void code;
    if (error.code === "price_changed") {
      void error.items;
    }
  }
  void response.headers.get("Idempotent-Replayed");
}
