//! The catalog listing's query and its opaque, tamper-evident cursors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ids::{parse_digits, Refusal};
use super::{Item, ItemId, Price};

/// A position in the listing's order (price, then id): the last entry a page covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub price: Price,
    pub id: ItemId,
}

/// One validated listing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub min_price: Price,
    pub max_price: Price,
    /// Lower-cased; matched as a substring of the lower-cased name.
    pub name: Option<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// The part of a listing a request answered, and where the next request continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Cursor>,
    /// Catalog entries read to answer (DynamoDB's `ScannedCount` summed over the page's reads).
    pub scanned: u32,
}

type HmacSha256 = Hmac<Sha256>;

const CURSOR_VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 1 + 8 + 8;
const TAG_LEN: usize = 16;
const CURSOR_TEXT_LEN: usize = 44; // base64url of 33 bytes, no padding

impl ListQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;
    pub const MAX_NAME_CHARS: usize = 100;

    /// Parses the query string parameters (`min_value`, `max_value`, `name`, `limit`, `cursor`).
    /// Unknown parameters are ignored. Errors name the parameter.
    pub fn parse<'a>(
        param: impl Fn(&str) -> Option<&'a str>,
        secret: &[u8],
    ) -> Result<Self, (&'static str, Refusal)> {
        let bound = |name: &'static str, default: u64| match param(name) {
            None => Ok(Price::new(default).expect("default is in range")),
            Some(s) => parse_digits(s).and_then(Price::new).ok_or((
                name,
                "must be an integer from 0 to 9007199254740991".to_owned(),
            )),
        };
        let min_price = bound("min_value", 0)?;
        let max_price = bound("max_value", Price::MAX)?;
        if min_price > max_price {
            return Err(("min_value", "must not be greater than max_value".to_owned()));
        }
        let name = match param("name") {
            None => None,
            Some(s) => {
                let count = s.chars().count();
                if count == 0 || count > Self::MAX_NAME_CHARS {
                    return Err(("name", "must be 1 to 100 characters".to_owned()));
                }
                Some(s.to_lowercase())
            }
        };
        let limit = match param("limit") {
            None => Self::DEFAULT_LIMIT,
            Some(s) => parse_digits(s)
                .filter(|n| (1..=u64::from(Self::MAX_LIMIT)).contains(n))
                .map(|n| n as u32)
                .ok_or(("limit", "must be an integer from 1 to 200".to_owned()))?,
        };
        let mut query = Self {
            min_price,
            max_price,
            name,
            limit,
            after: None,
        };
        if let Some(text) = param("cursor") {
            let cursor = query
                .decode_cursor(text, secret)
                .ok_or(("cursor", "is not a cursor this listing issued".to_owned()))?;
            query.after = Some(cursor);
        }
        Ok(query)
    }

    /// The cursor's text: its position, sealed with an HMAC over the position and this query's
    /// filters, so it can only continue the listing that issued it.
    pub fn encode_cursor(&self, cursor: Cursor, secret: &[u8]) -> String {
        let payload = payload(cursor);
        let tag = self.mac(&payload, secret).finalize().into_bytes();
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a cursor holds, if this listing issued it (same filters, intact) and it lies
    /// inside the query's price range.
    pub fn decode_cursor(&self, text: &str, secret: &[u8]) -> Option<Cursor> {
        if text.len() != CURSOR_TEXT_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (payload, tag) = bytes.split_at_checked(PAYLOAD_LEN)?;
        if payload[0] != CURSOR_VERSION || tag.len() != TAG_LEN {
            return None;
        }
        self.mac(payload, secret).verify_truncated_left(tag).ok()?;
        let price = Price::new(u64::from_be_bytes(payload[1..9].try_into().ok()?))?;
        let id = ItemId::new(u64::from_be_bytes(payload[9..17].try_into().ok()?))?;
        (self.min_price..=self.max_price)
            .contains(&price)
            .then_some(Cursor { price, id })
    }

    fn mac(&self, payload: &[u8], secret: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(payload);
        mac.update(&self.min_price.get().to_be_bytes());
        mac.update(&self.max_price.get().to_be_bytes());
        match &self.name {
            Some(name) => {
                mac.update(&[1]);
                mac.update(name.as_bytes());
            }
            None => mac.update(&[0]),
        }
        mac
    }
}

fn payload(cursor: Cursor) -> [u8; PAYLOAD_LEN] {
    let mut bytes = [0u8; PAYLOAD_LEN];
    bytes[0] = CURSOR_VERSION;
    bytes[1..9].copy_from_slice(&cursor.price.get().to_be_bytes());
    bytes[9..17].copy_from_slice(&cursor.id.get().to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &[u8] = b"unit-test-secret";

    fn parse(pairs: &[(&str, &str)]) -> Result<ListQuery, (&'static str, Refusal)> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListQuery::parse(|k| map.get(k).map(String::as_str), SECRET)
    }

    fn position(price: u64, id: u64) -> Cursor {
        Cursor {
            price: Price::new(price).unwrap(),
            id: ItemId::new(id).unwrap(),
        }
    }

    #[test]
    fn an_empty_query_lists_everything_fifty_at_a_time() {
        let q = parse(&[]).unwrap();
        assert_eq!((q.min_price.get(), q.max_price.get()), (0, Price::MAX));
        assert_eq!(q.limit, 50);
        assert_eq!(q.name, None);
    }

    #[test]
    fn bad_filters_are_refused_naming_the_parameter() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("min_value", "-1")], "min_value"),
            (&[("min_value", "1.5")], "min_value"),
            (&[("max_value", "abc")], "max_value"),
            (&[("max_value", "")], "max_value"),
            (&[("max_value", "9007199254740992")], "max_value"),
            (&[("min_value", "10"), ("max_value", "9")], "min_value"),
            (&[("limit", "0")], "limit"),
            (&[("limit", "201")], "limit"),
            (&[("limit", "ten")], "limit"),
            (&[("name", "")], "name"),
            (&[("cursor", "garbage")], "cursor"),
        ];
        for (pairs, field) in cases {
            assert_eq!(parse(pairs).unwrap_err().0, *field, "{pairs:?}");
        }
        let long_name = "n".repeat(101);
        assert_eq!(parse(&[("name", &long_name)]).unwrap_err().0, "name");
    }

    #[test]
    fn a_cursor_continues_only_the_listing_that_issued_it() {
        let query = parse(&[("min_value", "100"), ("name", "Wine")]).unwrap();
        let text = query.encode_cursor(position(500, 7), SECRET);
        assert_eq!(text.len(), CURSOR_TEXT_LEN);
        assert_eq!(query.decode_cursor(&text, SECRET), Some(position(500, 7)));

        let other_filter = parse(&[("min_value", "100"), ("name", "beer")]).unwrap();
        assert_eq!(other_filter.decode_cursor(&text, SECRET), None);
        assert_eq!(query.decode_cursor(&text, b"another key"), None);
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let query = parse(&[]).unwrap();
        let text = query.encode_cursor(position(500, 7), SECRET);
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        bytes[16] ^= 1; // another item id
        let forged = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(query.decode_cursor(&forged, SECRET), None);
    }
}
