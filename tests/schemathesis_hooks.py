"""Schemathesis hooks for `make test`'s fuzzing stage (loaded by tests/schemathesis.toml).

A few rules of the API cannot be written in JSON Schema, and the local API Gateway emulator
(`cargo lambda watch`) fails on a few inputs before any function runs. Each adjustment below is
explained where it is made:

- transport: requests the emulator cannot carry are re-encoded so that they reach the function
  exactly as invalid as they were generated;
- requests schemathesis means to be valid ("positive") are made to obey the rules between
  members that JSON Schema cannot state (the user a valid request names is the token's user,
  among them), so `positive_data_acceptance` stays on for every operation instead of being
  weakened for some;
- one failure that depends on stored state, not on the request, is not reported.
"""

import hashlib
import os

import schemathesis

# jwt mode: every request carries a token for this user (scripts/test.sh sets it), so a valid
# request that names a user names this one; any other is `403 user_mismatch`, as it should be.
TOKEN_USER = os.environ.get("SCHEMATHESIS_USER")

# Members the API reads as integers. JSON Schema 2020-12 (OpenAPI 3.1) calls `5.0` an integer, and
# schemathesis therefore sends whole floats for `type: integer`; the API refuses every float, `5.0`
# included, and no schema keyword can say so.
INTEGER_MEMBERS = (
    "user_id",  # as an integer
    "item_id",
    "quantity",
    "price",
    "restock",
    "max_per_customer",
    "stock_shards",
    # A discount code's terms (admin routes).
    "percent_off",
    "amount_off",
    "min_subtotal",
    "max_uses",
    "max_uses_per_customer",
)

# The admin writes of a discount code, and a valid window for them (see before_call).
DISCOUNT_WRITES = (("POST", "/api/v1/admin/discounts"), ("PATCH", "/api/v1/admin/discounts/{code}"))
DISCOUNT_WINDOW = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")


def _respell_header(value):
    """The UTF-8 bytes of `value`, spelled as the latin-1 string `requests` sends byte for byte.

    `requests` encodes header values as latin-1, so a generated `×` goes out as the single byte
    0xD7, which is not UTF-8. `cargo lambda watch` (the local API Gateway emulator) answers any
    header that is not UTF-8 with its own `500 text/plain` before a function runs, so such a
    request tests the emulator, not this API. Sending the UTF-8 spelling instead reaches the
    function with the same non-ASCII character, which it must still refuse.
    """
    if not isinstance(value, str) or value.isascii():
        return value
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


def _as_int(value):
    """A query value as the integer it spells (schemathesis may hold it as a number or a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _is_utf8(data):
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.headers:
        for name in list(case.headers):
            case.headers[name] = _respell_header(case.headers[name])
    # The same emulator answers `500` to a body that is not UTF-8 sent as `application/json`; it
    # passes one sent as `application/octet-stream` on (base64-encoded, as API Gateway does with
    # binary bodies). The functions read the bytes whatever the content type says, and refuse
    # them: the request tests the same thing.
    if isinstance(case.body, (bytes, bytearray)) and not _is_utf8(case.body):
        case.headers = {**(case.headers or {}), "Content-Type": "application/octet-stream"}

    operation = case.operation
    route = (operation.method.upper(), operation.path)
    body = case.body

    if route == ("POST", "/api/v1/cart/{cart_id}/purchase") and isinstance(body, dict):
        # With an `Idempotency-Key` header the body's `idempotency_key` is ignored ("the header
        # wins"), whatever it holds; without this, a request whose only fault is a bad body key
        # next to a good header would be "invalid" to schemathesis and fine to the API.
        headers = case.headers or {}
        if any(name.lower() == "idempotency-key" for name in headers):
            body.pop("idempotency_key", None)

    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if isinstance(body, dict):
        for name in INTEGER_MEMBERS:
            value = body.get(name)
            if isinstance(value, float) and value.is_integer():
                body[name] = int(value)

    query = case.query if case.query is not None else {}

    # A key is bound to the first request it was sent with: a generated key (often the
    # document's example) sent again with another request is rightly a 422. Each distinct valid
    # request gets a key of its own, derived from it; the same request keeps the same key.
    headers = case.headers or {}
    for name in [n for n in headers if n.lower() == "idempotency-key"]:
        what = repr((route, sorted((case.path_parameters or {}).items()), sorted(query.items(), key=str), body))
        headers[name] = f"st-{hashlib.sha256(what.encode()).hexdigest()[:40]}"

    if TOKEN_USER:
        if isinstance(body, dict) and "user_id" in body:
            body["user_id"] = TOKEN_USER
        if "user_id" in query:
            query["user_id"] = TOKEN_USER
            case.query = query

    if route == ("GET", "/api/v1/items"):
        # `min_value` must not exceed `max_value`: a rule between two parameters.
        low, high = _as_int(query.get("min_value")), _as_int(query.get("max_value"))
        if low is not None and high is not None and low > high:
            query["min_value"], query["max_value"] = query["max_value"], query["min_value"]
        # A cursor is valid only if this listing issued it (it is signed with the server's key
        # and bound to the filters), so no generated cursor is; the Rust tests walk real ones.
        query.pop("cursor", None)
        case.query = query

    elif route == ("GET", "/api/v1/orders"):
        # The same for the orders' cursors (signed, and bound to their user).
        query.pop("cursor", None)
        case.query = query

    elif route == ("PATCH", "/api/v1/admin/items/{item_id}") and isinstance(body, dict):
        # An admin change sets at least one member, and not both `quantity` and `restock`:
        # rules openapi.yaml states in words (ItemChange), so generators keep a typed model.
        if "quantity" in body and "restock" in body:
            body.pop("restock")
        if not {"name", "price", "quantity", "restock"} & body.keys():
            body["price"] = 100

    elif route in DISCOUNT_WRITES and isinstance(body, dict):
        # A code takes off a percentage or an amount: exactly one of the two on a create, at most
        # one on a change, which sets at least one term (openapi.yaml states these in words:
        # NewDiscount, DiscountChange).
        if "percent_off" in body and "amount_off" in body:
            body.pop("amount_off")
        if route[0] == "POST" and "percent_off" not in body and "amount_off" not in body:
            body["percent_off"] = 10
        if route[0] == "PATCH" and not body:
            body["active"] = True
        # Its window: `ends_at` after `starts_at` (the stored one on a change), in years 1970 to
        # 9999 (RFC 3339 allows offsets and years the API's times cannot hold). A time given is
        # replaced by one of a fixed valid window, both set so that no stored time can cross it.
        if any(isinstance(body.get(name), str) for name in ("starts_at", "ends_at")):
            body["starts_at"], body["ends_at"] = DISCOUNT_WINDOW

    elif route in (
        ("DELETE", "/api/v1/cart/{cart_id}/items/{item_id}"),
        ("DELETE", "/api/v1/cart/{cart_id}/discount"),
    ):
        # The owner comes from `?user_id=` or the body: one of them, and equal when both.
        in_body = body.get("user_id") if isinstance(body, dict) else None
        in_query = query.get("user_id")
        if in_query is not None and in_body is not None and str(in_body) != str(in_query):
            body["user_id"] = in_query
        elif in_query is None and in_body is None and not TOKEN_USER:
            # iam mode: one of them is required.
            query["user_id"] = "1"
            case.query = query

    elif route == ("POST", "/api/v1/cart/{cart_id}/purchase"):
        # An idempotency key is required, in the `Idempotency-Key` header or the body.
        headers = case.headers or {}
        has_header = any(name.lower() == "idempotency-key" for name in headers)
        if not has_header and isinstance(body, dict) and "idempotency_key" not in body:
            digest = hashlib.sha256(repr(sorted(body.items(), key=str)).encode()).hexdigest()
            body["idempotency_key"] = f"schemathesis-{digest[:32]}"
        elif not has_header and not isinstance(body, dict):
            # No body at all (it is optional): the key goes in the header, one per cart.
            what = repr(sorted((case.path_parameters or {}).items()))
            digest = hashlib.sha256(what.encode()).hexdigest()
            case.headers = {**headers, "Idempotency-Key": f"schemathesis-{digest[:32]}"}


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Keeps every failure but one: a well-formed restock refused because of the stored stock.

    `PATCH /api/v1/admin/items/{item_id}` answers `400` (field `restock`) when the restock would
    take the item's stock past 1000000. Whether it does depends on the stock, not on the request,
    so no schema can tell such a request from one that succeeds.
    """
    if response is None or response.status_code != 400:
        return True
    if (case.operation.method.upper(), case.operation.path) != ("PATCH", "/api/v1/admin/items/{item_id}"):
        return True
    try:
        problem = response.json()
    except ValueError:
        return True
    return not (
        isinstance(problem, dict)
        and problem.get("field") == "restock"
        and "would take the stock past" in str(problem.get("detail"))
    )
