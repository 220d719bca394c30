"""The README's tour, through the Python client generated from openapi.yaml (`make test`).

scripts/test.sh generates the client with the pinned openapi-python-client into
.local/client/cart_api_client, then runs this against the local API (API_URL) in the README's
authentication mode, jwt: every call carries a token of the local issuer (the `token` binary).
Every answer must come back as a typed model: successes as theirs, problems as a problem model
whose `code` is the one expected.
"""

import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.environ.get("ROOT", "."), ".local", "client"))

from cart_api_client import AuthenticatedClient, Client  # noqa: E402
from cart_api_client.api.admin import admin_create_item, admin_update_item  # noqa: E402
from cart_api_client.api.carts import add_cart_item, create_cart_with_slash, get_cart, remove_cart_item, set_cart_item  # noqa: E402
from cart_api_client.api.catalog import list_items  # noqa: E402
from cart_api_client.api.purchases import get_order, list_orders, purchase_cart  # noqa: E402
from cart_api_client.models import (  # noqa: E402
    AddCartItemBody,
    AdminCreateItemBody,
    CartEnvelope,
    CreateCartWithSlashBody,
    InvalidRequestProblem,
    ItemChange,
    Purchase,
    PurchaseCartBody,
    SetCartItemBody,
)

API = os.environ.get("API_URL", "http://127.0.0.1:9000")
RUN = uuid.uuid4().hex[:10]
PASSED = 0


def token(user):
    binary = os.path.join(os.environ["CARGO_TARGET_DIR"], "debug", "token")
    return subprocess.run([binary, "--user", user], check=True, capture_output=True, text=True).stdout.strip()


def check(what, condition, detail=""):
    global PASSED
    if not condition:
        sys.exit(f"client tour: {what}: {detail}")
    PASSED += 1


def problem(what, answer, code, status):
    """A problem answer parsed into a typed model carrying the expected `code`."""
    parsed = answer.parsed
    check(what, answer.status_code == status, f"status {answer.status_code}: {answer.content!r}")
    check(what, parsed is not None and getattr(parsed, "code", None) is not None, f"untyped: {answer.content!r}")
    check(what, str(parsed.code.value if hasattr(parsed.code, "value") else parsed.code) == code, f"{parsed.code}")
    return parsed


def main():
    public = Client(base_url=API)
    alice = AuthenticatedClient(base_url=API, token=token(f"alice-{RUN}"))

    # Two items of our own (locally the admin routes take unsigned calls).
    tea = admin_create_item.sync_detailed(client=public, body=AdminCreateItemBody(name=f"Tea - Tour {RUN}", price=450, quantity=30))
    check("create an item", tea.status_code == 201, tea.content)
    jam = admin_create_item.sync_detailed(client=public, body=AdminCreateItemBody(name=f"Jam - Tour {RUN}", price=399, quantity=2))
    tea_id, jam_id = tea.parsed.item.id, jam.parsed.item.id

    # The listing, with cursors: one item a page, the two of ours by name.
    first = list_items.sync_detailed(client=public, name=f"tour {RUN}", limit=1)
    check("a first page", first.status_code == 200 and len(first.parsed.items) == 1, first.content)
    second = list_items.sync_detailed(client=public, name=f"tour {RUN}", limit=1, cursor=first.parsed.next_cursor)
    names = {first.parsed.items[0].name, second.parsed.items[0].name}
    check("the next page", names == {f"Tea - Tour {RUN}", f"Jam - Tour {RUN}"}, names)

    # A cart, lines added and removed.
    created = create_cart_with_slash.sync_detailed(client=alice, body=CreateCartWithSlashBody())
    check("a cart", created.status_code == 201 and isinstance(created.parsed, CartEnvelope), created.content)
    cart_id = created.parsed.cart.id
    added = add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=tea_id, quantity=2), idempotency_key=f"add-{RUN}")
    check("add", added.status_code == 200 and added.parsed.cart.total == 900, added.content)
    again = add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=tea_id, quantity=2), idempotency_key=f"add-{RUN}")
    check("add, replayed", again.content == added.content and again.headers.get("idempotent-replayed") == "true", again.headers)
    removed = remove_cart_item.sync_detailed(cart_id, tea_id, client=alice)
    check("remove", removed.status_code == 200 and removed.parsed.cart.lines == [], removed.content)
    add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=tea_id, quantity=1))
    viewed = get_cart.sync_detailed(cart_id, client=alice)
    check("view", viewed.status_code == 200 and viewed.headers.get("etag") == f'"{viewed.parsed.cart.version}"', viewed.headers)
    set_to = set_cart_item.sync_detailed(cart_id, tea_id, client=alice, body=SetCartItemBody(quantity=3))
    check("set a quantity", set_to.status_code == 200 and set_to.parsed.cart.lines[0].quantity == 3, set_to.content)
    set_cart_item.sync_detailed(cart_id, tea_id, client=alice, body=SetCartItemBody(quantity=1))

    # The problems a shop's front end shows, each a typed model with its code.
    problem("item_not_found", add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=999_999_999, quantity=1)), "item_not_found", 404)
    invalid = problem("invalid_request", add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=jam_id, quantity=0)), "invalid_request", 400)
    check("invalid_request is its own model", isinstance(invalid, InvalidRequestProblem) and invalid.field == "quantity", invalid)
    problem("insufficient_stock", add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=jam_id, quantity=3)), "insufficient_stock", 409)
    add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=jam_id, quantity=2))
    admin_update_item.sync_detailed(tea_id, client=public, body=ItemChange(price=500))
    changed = problem("price_changed", purchase_cart.sync_detailed(cart_id, client=alice, body=PurchaseCartBody(), idempotency_key=f"buy-{RUN}"), "price_changed", 409)
    check("price_changed lists the change", changed.items[0].current_price == 500, changed.items)

    # The purchase, its replay, the order.
    bought = purchase_cart.sync_detailed(cart_id, client=alice, body=PurchaseCartBody(), idempotency_key=f"buy-{RUN}")
    check("purchase", bought.status_code == 200 and isinstance(bought.parsed, Purchase), bought.content)
    check("purchase total", bought.parsed.order.total == 500 + 2 * 399, bought.parsed.order.total)
    replay = purchase_cart.sync_detailed(cart_id, client=alice, body=PurchaseCartBody(), idempotency_key=f"buy-{RUN}")
    check("replay", replay.content == bought.content and replay.headers.get("idempotent-replayed") == "true", replay.headers)
    order = get_order.sync_detailed(bought.parsed.order.id, client=alice)
    check("the order", order.status_code == 200 and order.parsed.order.id == bought.parsed.order.id, order.content)
    history = list_orders.sync_detailed(client=alice, limit=10)
    check("the orders", history.status_code == 200 and [o.id for o in history.parsed.orders] == [bought.parsed.order.id], history.content)
    problem("cart_empty", purchase_cart.sync_detailed(cart_id, client=alice, body=PurchaseCartBody(), idempotency_key=f"again-{RUN}"), "cart_empty", 409)

    # Nobody reaches Alice's cart: no token, another user's.
    problem("no token", get_cart.sync_detailed(cart_id, client=public), "unauthenticated", 401)
    bob = AuthenticatedClient(base_url=API, token=token(f"bob-{RUN}"))
    problem("another user", get_cart.sync_detailed(cart_id, client=bob), "cart_not_found", 404)

    print(f"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out ({PASSED} checks of the generated Python client)")


if __name__ == "__main__":
    main()
