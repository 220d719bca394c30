//! The discounts table: one item per code (`pk = "CODE#{code}"`: its terms, its `uses` and its
//! `version`), and one per customer of a code with a per-customer limit
//! (`pk = "USE#{code}#{user}"`: that customer's `uses`).
//!
//! The limits are conditions of the purchase's one transaction ([`use_code`]): the code's
//! `uses` moves on only while it is below `max_uses`, the code active, inside its window at
//! that second and still at the terms the cart holds (its `version`); the customer's `uses`
//! only while below the `max_uses_per_customer` the cart's terms name. A cancelled or expired
//! order gives both back in its own transaction ([`give_back_code`]). An admin's change writes
//! the terms and never `uses` (which purchases move meanwhile).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::carts::{cart_key, CartRecord};
use super::keys::NewRecord;
use super::{built, n, names, s, Raw, RequestToken, Store, StoreError};
use crate::domain::{CartId, Discount, DiscountCode, Off, OrderDiscount, Receipt, UserId};

/// A code's item; a cart keeps the same shape as its `discount` map (its terms when put on it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DiscountRecord {
    pk: String,
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percent_off: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount_off: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_subtotal: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    starts_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ends_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_uses: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_uses_per_customer: Option<u64>,
    active: bool,
    #[serde(default)]
    uses: u64,
    #[serde(default)]
    version: u64,
}

/// The terms a code's item holds (all but `pk`, `uses` and `last_request`), as written whole by
/// an admin's change.
const TERMS: [&str; 8] = [
    "percent_off",
    "amount_off",
    "min_subtotal",
    "starts_at",
    "ends_at",
    "max_uses",
    "max_uses_per_customer",
    "active",
];

impl DiscountRecord {
    pub(crate) fn of(d: &Discount) -> Self {
        let (percent_off, amount_off) = match d.off {
            Off::Percent(p) => (Some(p), None),
            Off::Amount(a) => (None, Some(a)),
        };
        Self {
            pk: code_pk(&d.code),
            code: d.code.as_str().to_owned(),
            percent_off,
            amount_off,
            min_subtotal: d.min_subtotal,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
            max_uses: d.max_uses,
            max_uses_per_customer: d.max_uses_per_customer,
            active: d.active,
            uses: d.uses,
            version: d.version,
        }
    }

    pub(crate) fn into_discount(self) -> Result<Discount, StoreError> {
        let corrupt = || StoreError::Unexpected(format!("code {} is malformed", self.code).into());
        let off = match (self.percent_off, self.amount_off) {
            (Some(p), None) => Off::Percent(p),
            (None, Some(a)) => Off::Amount(a),
            _ => return Err(corrupt()),
        };
        Ok(Discount {
            code: DiscountCode::parse(&self.code).map_err(|_| corrupt())?,
            off,
            min_subtotal: self.min_subtotal,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            max_uses: self.max_uses,
            max_uses_per_customer: self.max_uses_per_customer,
            active: self.active,
            uses: self.uses,
            version: self.version,
        })
    }
}

fn code_pk(code: &DiscountCode) -> String {
    format!("CODE#{code}")
}

fn code_key(code: &DiscountCode) -> Raw {
    HashMap::from([("pk".to_owned(), s(code_pk(code)))])
}

fn use_key(code: &DiscountCode, user: &UserId) -> Raw {
    HashMap::from([("pk".to_owned(), s(format!("USE#{code}#{user}")))])
}

/// A code's item as DynamoDB returned it.
pub(crate) fn decode_discount(raw: Option<&Raw>) -> Result<Option<Discount>, StoreError> {
    let Some(raw) = raw.filter(|raw| raw.contains_key("code")) else {
        return Ok(None);
    };
    let record: DiscountRecord =
        serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
    record.into_discount().map(Some)
}

/// The uses a customer's use item counts.
fn uses_of(raw: Option<&Raw>) -> u64 {
    raw.and_then(|raw| super::number(raw, "uses")).unwrap_or(0)
}

/// The purchase's actions for the cart's code (`held`: its terms as the cart keeps them): the
/// code's use counted if it is still at those terms, active, inside its window at `now` and
/// below `max_uses`; and, with a per-customer limit, the customer's use counted if below it.
/// Each returns the item as it is when its condition fails.
pub(crate) fn use_code(
    table: &str,
    held: &Discount,
    user: &UserId,
    now: i64,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let code = built(
        Update::builder()
            .table_name(table)
            .set_key(Some(code_key(&held.code)))
            .update_expression("SET #uses = #uses + :one")
            .condition_expression(
                "#version = :version AND #active = :yes \
                 AND (attribute_not_exists(#max_uses) OR #uses < #max_uses) \
                 AND (attribute_not_exists(#starts_at) OR #starts_at <= :now) \
                 AND (attribute_not_exists(#ends_at) OR #ends_at > :now)",
            )
            .set_expression_attribute_names(Some(names(&[
                "uses",
                "version",
                "active",
                "max_uses",
                "starts_at",
                "ends_at",
            ])))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":version", n(held.version))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )?;
    let mut actions = vec![TransactWriteItem::builder().update(code).build()];
    if let Some(max) = held.max_uses_per_customer {
        let mine = built(
            Update::builder()
                .table_name(table)
                .set_key(Some(use_key(&held.code, user)))
                .update_expression("SET #uses = if_not_exists(#uses, :zero) + :one")
                .condition_expression("attribute_not_exists(#uses) OR #uses < :max")
                .set_expression_attribute_names(Some(names(&["uses"])))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(max))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        actions.push(TransactWriteItem::builder().update(mine).build());
    }
    Ok(actions)
}

/// A cancelled or expired order's actions for its code: the use it counted given back, and the
/// customer's when it counted one. Unconditional (`ADD`), so that nothing about the code can
/// stop the order's transition; the transition happens once, so each use comes back once.
pub(crate) fn give_back_code(
    table: &str,
    used: &OrderDiscount,
    user: &UserId,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut keys = vec![code_key(&used.code)];
    if used.per_customer {
        keys.push(use_key(&used.code, user));
    }
    keys.into_iter()
        .map(|key| {
            let back = Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .update_expression("ADD #uses :minus_one")
                .set_expression_attribute_names(Some(names(&["uses"])))
                .expression_attribute_values(":minus_one", AttributeValue::N("-1".to_owned()));
            Ok(TransactWriteItem::builder()
                .update(built(back.build())?)
                .build())
        })
        .collect()
}

/// What an admin's write (or read) of a code starts from: the key's receipt and the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscountRead {
    pub receipt: Option<Receipt>,
    pub discount: Option<Discount>,
}

/// What a cart's `PUT .../discount` starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartCodeRead {
    pub cart: Option<crate::domain::Cart>,
    pub discount: Option<Discount>,
    /// The cart's owner's uses of the code (counted only for a code with a per-customer limit).
    pub customer_uses: u64,
}

/// What an admin's write of a code came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscountCommit {
    Done,
    /// A code of that name exists (a create), or the code changed since it was read.
    Exists,
    Changed,
    /// The key was taken meanwhile: this is its answer.
    KeyTaken(Receipt),
}

impl Store {
    /// The code (and the key's receipt, `pk`), strongly consistent, in one `BatchGetItem`.
    pub async fn read_discount(
        &self,
        code: &DiscountCode,
        pk: Option<&str>,
        now: i64,
    ) -> Result<DiscountRead, StoreError> {
        let table = self.tables().discounts.clone();
        let (receipt, items) = self
            .batch_read(pk, vec![(table, code_key(code))], now)
            .await?;
        let raw = items.into_iter().next().flatten();
        Ok(DiscountRead {
            receipt,
            discount: decode_discount(raw.as_ref())?,
        })
    }

    /// The cart `id`, the code and its owner's uses of it, in one `BatchGetItem`.
    pub async fn read_cart_code(
        &self,
        id: &CartId,
        code: &DiscountCode,
        now: i64,
    ) -> Result<CartCodeRead, StoreError> {
        let tables = self.tables();
        let keys = vec![
            (tables.carts.clone(), cart_key(id.owner())),
            (tables.discounts.clone(), code_key(code)),
            (tables.discounts.clone(), use_key(code, id.owner())),
        ];
        let (_, items) = self.batch_read(None, keys, now).await?;
        let mut items = items.into_iter().map(Option::unwrap_or_default);
        let (cart, code, mine) = (items.next(), items.next(), items.next());
        let cart = cart.filter(|raw| !raw.is_empty());
        Ok(CartCodeRead {
            cart: CartRecord::owned(cart.as_ref(), id, now)?
                .map(CartRecord::into_cart)
                .transpose()?,
            discount: decode_discount(code.as_ref())?,
            customer_uses: uses_of(mine.as_ref().filter(|raw| !raw.is_empty())),
        })
    }

    /// Writes a code: `before` is `None` for a new one (refused when the code exists), else the
    /// code as read (its terms written over, if it is still at that version; its `uses` never
    /// touched). With the key's record in one transaction.
    pub async fn commit_discount(
        &self,
        before: Option<&Discount>,
        after: &Discount,
        record: Option<&NewRecord<'_>>,
    ) -> Result<DiscountCommit, StoreError> {
        let table = &self.tables().discounts;
        let record_of = DiscountRecord::of(after);
        let item: Raw = serde_dynamo::to_item(&record_of).map_err(StoreError::mapping)?;
        let action = match before {
            None => {
                let put = aws_sdk_dynamodb::types::Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", "pk");
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build()
            }
            Some(before) => {
                let (mut sets, mut removes) = (vec![], vec![]);
                let mut values: Raw = HashMap::new();
                for term in TERMS {
                    match item.get(term) {
                        Some(value) => {
                            sets.push(format!("#{term} = :{term}"));
                            values.insert(format!(":{term}"), value.clone());
                        }
                        None => removes.push(format!("#{term}")),
                    }
                }
                sets.push("#version = :next".to_owned());
                values.insert(":next".to_owned(), n(after.version));
                values.insert(":version".to_owned(), n(before.version));
                let mut expression = String::new();
                if !removes.is_empty() {
                    expression = format!("REMOVE {} ", removes.join(", "));
                }
                expression.push_str(&format!("SET {}", sets.join(", ")));
                let mut attributes = TERMS.to_vec();
                attributes.push("version");
                let update = Update::builder()
                    .table_name(table)
                    .set_key(Some(code_key(&after.code)))
                    .update_expression(expression)
                    .condition_expression("#version = :version")
                    .set_expression_attribute_names(Some(names(&attributes)))
                    .set_expression_attribute_values(Some(values));
                TransactWriteItem::builder()
                    .update(built(update.build())?)
                    .build()
            }
        };
        let token = RequestToken::new();
        let Some(cancelled) = self.transact(vec![action], record, &token).await? else {
            return Ok(DiscountCommit::Done);
        };
        if let Some(receipt) = cancelled.taken_by.clone() {
            return Ok(DiscountCommit::KeyTaken(receipt));
        }
        match (before, cancelled.failed_at(0)) {
            (None, Some(_)) => Ok(DiscountCommit::Exists),
            (Some(_), Some(_)) => Ok(DiscountCommit::Changed),
            _ => Err(StoreError::Unexpected(
                "a code's write was cancelled for no known reason".into(),
            )),
        }
    }
}
