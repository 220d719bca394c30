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

// A visitor fills a cart as a guest, signs in, and merges it into theirs.
export async function guestTour(): Promise<void> {
  const created = await api.POST("/api/v1/guest/carts", { body: {} });
  if (!created.data) {
    return;
  }
  const token: string = created.data.guest_token;
  const guest = { params: { path: { cart_id: created.data.cart.id }, header: { "Guest-Token": token } } };
  await api.POST("/api/v1/guest/carts/{cart_id}/items", { ...guest, body: { item_id: 110, quantity: 1 } });
  const line = { params: { ...guest.params, path: { ...guest.params.path, item_id: 110 } } };
  await api.PATCH("/api/v1/guest/carts/{cart_id}/items/{item_id}", { ...line, body: { quantity: 2 } });
  const seen = await api.GET("/api/v1/guest/carts/{cart_id}", guest);
  if (seen.error) {
    // A missing token is `unauthenticated`, a wrong one `cart_not_found`: typed either way.
    const code: components["schemas"]["ProblemCode"] = seen.error.code;
    void code;
  }
  // @ts-expect-error the Guest-Token header is required on a guest's cart
  await api.GET("/api/v1/guest/carts/{cart_id}", { params: { path: { cart_id: "x" } } });

  const body = { guest_cart_id: created.data.cart.id, guest_token: token };
  const merged = await api.POST("/api/v1/cart/merge", { body: { ...body, mode: "merge" } });
  if (merged.data) {
    for (const change of merged.data.merge) {
      const outcome: "merged" | "capped" | "dropped" = change.outcome;
      const from: "guest" | "user" = change.from;
      const reason: components["schemas"]["MergeReason"] | undefined = change.reason;
      void [outcome, from, reason, change.quantity];
    }
    void merged.data.cart.total;
  }
  // @ts-expect-error a merge's mode is merge, replace or keep
  await api.POST("/api/v1/cart/merge", { body: { ...body, mode: "sum" } });
}
