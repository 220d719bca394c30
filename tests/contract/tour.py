"""The README's tour, through the Python client generated from openapi.yaml (`make test`).

scripts/test.sh generates the client with the pinned openapi-python-client into
.local/client/cart_api_client, then runs this against the local API (API_URL) in the README's
authentication mode, jwt: every call carries a token of the local issuer (the `token` binary).
Every answer must come back as a typed model: successes as theirs, problems as a problem model
whose `code` is the one expected.
"""

import hashlib
import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.environ.get("ROOT", "."), ".local", "client"))

from cart_api_client import AuthenticatedClient, Client  # noqa: E402
from cart_api_client.api.admin import admin_create_discount, admin_create_item, admin_get_discount, admin_update_item  # noqa: E402
from cart_api_client.api.carts import add_cart_item, create_cart_with_slash, get_cart, remove_cart_discount, remove_cart_item, set_cart_discount, set_cart_item  # noqa: E402
from cart_api_client.api.catalog import list_items  # noqa: E402
from cart_api_client.api.guests import guest_add_cart_item, guest_create_cart, guest_get_cart, guest_set_cart_item, merge_cart  # noqa: E402
from cart_api_client.api.purchases import get_order, list_orders, purchase_cart  # noqa: E402
from cart_api_client.models import (  # noqa: E402
    AddCartItemBody,
    AdminCreateItemBody,
    CartEnvelope,
    CreateCartWithSlashBody,
    GuestAddCartItemBody,
    GuestCartCreated,
    GuestCreateCartBody,
    GuestSetCartItemBody,
    InvalidRequestProblem,
    ItemChange,
    MergeMode,
    MergeOutcome,
    MergeReason,
    MergeRequest,
    MergeResult,
    NewDiscount,
    Purchase,
    PurchaseCartBody,
    SetCartDiscountBody,
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

    discounts(public, alice, bob, cart_id, tea_id)
    guests(public, tea_id)

    print(f"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out ({PASSED} checks of the generated Python client)")


def discounts(public, alice, bob, cart_id, tea_id):
    """A code limited to one use: Alice's cart shows it and her order has it; then it is used up."""
    code = f"TOUR-{RUN}".upper()
    made = admin_create_discount.sync_detailed(client=public, body=NewDiscount(code=code.lower(), percent_off=10, max_uses=1))
    check("a code", made.status_code == 201 and made.parsed.discount.code == code, made.content)
    add_cart_item.sync_detailed(cart_id, client=alice, body=AddCartItemBody(item_id=tea_id, quantity=2))
    applied = set_cart_discount.sync_detailed(cart_id, client=alice, body=SetCartDiscountBody(code=code))
    cart = applied.parsed.cart if applied.status_code == 200 else None
    check("the code on the cart", cart is not None and (cart.subtotal, cart.discount.amount, cart.total) == (1000, 100, 900), applied.content)
    removed = remove_cart_discount.sync_detailed(cart_id, client=alice)
    check("the code off the cart", removed.status_code == 200 and removed.parsed.cart.discount is None, removed.content)
    set_cart_discount.sync_detailed(cart_id, client=alice, body=SetCartDiscountBody(code=code))
    bought = purchase_cart.sync_detailed(cart_id, client=alice, body=PurchaseCartBody(), idempotency_key=f"coded-{RUN}")
    order = bought.parsed.order if bought.status_code == 200 else None
    check("a discounted order", order is not None and (order.subtotal, order.discount.code, order.discount.amount, order.total) == (1000, code, 100, 900), bought.content)
    used = admin_get_discount.sync_detailed(code, client=public)
    check("one use", used.status_code == 200 and used.parsed.discount.uses == 1, used.content)
    bobs = create_cart_with_slash.sync_detailed(client=bob, body=CreateCartWithSlashBody()).parsed.cart.id
    add_cart_item.sync_detailed(bobs, client=bob, body=AddCartItemBody(item_id=tea_id, quantity=1))
    refused = problem("discount_not_applicable", set_cart_discount.sync_detailed(bobs, client=bob, body=SetCartDiscountBody(code=code)), "discount_not_applicable", 409)
    check("used up", str(refused.reason.value) == "exhausted", refused.reason)
    problem("discount_not_found", set_cart_discount.sync_detailed(bobs, client=bob, body=SetCartDiscountBody(code="NO-SUCH-CODE")), "discount_not_found", 404)


def guests(public, tea_id):
    """A visitor fills a cart as a guest, signs in as Carol and merges it into her cart."""
    # The generated functions ask for an AuthenticatedClient wherever the operation lists any
    # security, `{}` (none, the guest routes in jwt mode) included. A visitor has no credential;
    # the plain client is all such a call uses.
    visitor = public
    made = guest_create_cart.sync_detailed(client=visitor, body=GuestCreateCartBody())
    check("a guest's cart", made.status_code == 201 and isinstance(made.parsed, GuestCartCreated), made.content)
    cart_id, guest_token = made.parsed.cart.id, made.parsed.guest_token
    guest_id = "guest:" + hashlib.sha256(guest_token.encode()).hexdigest()
    check("the guest is the token's hash", made.parsed.cart.user_id == guest_id, made.parsed.cart.user_id)
    added = guest_add_cart_item.sync_detailed(cart_id, client=visitor, body=GuestAddCartItemBody(item_id=tea_id, quantity=1), guest_token=guest_token)
    check("a guest adds", added.status_code == 200 and added.parsed.cart.total == 500, added.content)
    set_to = guest_set_cart_item.sync_detailed(cart_id, tea_id, client=visitor, body=GuestSetCartItemBody(quantity=2), guest_token=guest_token, idempotency_key=f"guest-set-{RUN}")
    check("a guest sets a quantity", set_to.status_code == 200 and set_to.parsed.cart.lines[0].quantity == 2, set_to.content)
    seen = guest_get_cart.sync_detailed(cart_id, client=visitor, guest_token=guest_token)
    check("a guest views", seen.status_code == 200 and seen.headers.get("etag") == f'"{seen.parsed.cart.version}"', seen.headers)

    # Another guest's token reaches nothing of this guest's cart.
    other = guest_create_cart.sync_detailed(client=visitor, body=GuestCreateCartBody()).parsed
    problem("another guest's token", guest_get_cart.sync_detailed(cart_id, client=visitor, guest_token=other.guest_token), "cart_not_found", 404)

    # Carol signs in, with a tea in her own cart: the guest's two join it, and the answer says so.
    carol = AuthenticatedClient(base_url=API, token=token(f"carol-{RUN}"))
    mine = create_cart_with_slash.sync_detailed(client=carol, body=CreateCartWithSlashBody()).parsed.cart.id
    add_cart_item.sync_detailed(mine, client=carol, body=AddCartItemBody(item_id=tea_id, quantity=1))
    request = MergeRequest(guest_cart_id=cart_id, guest_token=guest_token, mode=MergeMode.MERGE)
    merged = merge_cart.sync_detailed(client=carol, body=request, idempotency_key=f"merge-{RUN}")
    check("merge", merged.status_code == 200 and isinstance(merged.parsed, MergeResult), merged.content)
    check("merged into her cart", merged.parsed.cart.id == mine and merged.parsed.cart.lines[0].quantity == 3, merged.content)
    changes = [(c.item_id, c.from_.value, c.quantity, c.outcome) for c in merged.parsed.merge]
    check("every line that changed", changes == [(tea_id, "guest", 2, MergeOutcome.MERGED)], changes)
    again = merge_cart.sync_detailed(client=carol, body=request, idempotency_key=f"merge-{RUN}")
    check("merge, replayed", again.content == merged.content and again.headers.get("idempotent-replayed") == "true", again.headers)
    problem("merged already", merge_cart.sync_detailed(client=carol, body=request), "cart_not_found", 404)
    problem("the guest's cart is gone", guest_get_cart.sync_detailed(cart_id, client=visitor, guest_token=guest_token), "cart_not_found", 404)

    # The other guest's tea, kept out: Carol's cart as it was, the line reported dropped.
    guest_add_cart_item.sync_detailed(other.cart.id, client=visitor, body=GuestAddCartItemBody(item_id=tea_id, quantity=1), guest_token=other.guest_token)
    kept = merge_cart.sync_detailed(client=carol, body=MergeRequest(guest_cart_id=other.cart.id, guest_token=other.guest_token, mode=MergeMode.KEEP))
    check("keep", kept.status_code == 200 and kept.parsed.cart.lines[0].quantity == 3, kept.content)
    dropped = [(c.outcome, c.reason) for c in kept.parsed.merge]
    check("the guest's line dropped", dropped == [(MergeOutcome.DROPPED, MergeReason.KEPT)], dropped)


if __name__ == "__main__":
    main()
