//! A hot item's stock split over rows, for flash sales: where a take goes, where units come back
//! to, how the sweep evens the rows out, and how an admin's total is spread. Pure.
//!
//! DynamoDB lets one transaction at a time act on an item, and a write transaction takes tens of
//! milliseconds: one catalog row sells about 1 / (a transaction's time) units a second, however
//! many buyers wait. An admin may split an item (`stock_shards`, 2..=[`MAX_SHARDS`]): its units
//! are then in that many *shard* rows, each with a copy of the item's price and limit, and the
//! item's own row keeps a *pool* that units come back to (cancelled and expired orders, released
//! holds, restocks). What is available is the pool and every shard together. A purchase or a hold
//! takes its units from one shard, so racing buyers spread over the rows; the pool and the shards
//! are read only when a shard runs short, and the sweep moves the pool into the shards.

use std::collections::BTreeMap;

use super::ItemChange;
use super::Stock;

/// The most rows an item's stock may be split over: a reshard writes the item, its rows and the
/// registry in one transaction (at most 100 actions).
pub const MAX_SHARDS: u32 = 64;

/// Where an item's units are: its own row (the pool) or one of its shards (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StockRow {
    Pool,
    Shard(u32),
}

/// One row's part in a stock move: `taken` units out of it (negative: back into it), if it has
/// `needs` units (0: no condition on its stock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    pub row: StockRow,
    pub taken: i64,
    pub needs: u64,
}

/// Takes by item: what a purchase or a cart change asks of each item's rows.
pub type Takes = BTreeMap<super::ItemId, Vec<Take>>;

/// An item's units as read across its rows; `shards` is empty when it is not split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stocking {
    pub pool: u64,
    pub shards: Vec<u64>,
}

impl Stocking {
    /// Every unit of the item: the pool and all its shards.
    pub fn available(&self) -> u64 {
        self.pool + self.shards.iter().sum::<u64>()
    }

    fn units(&self, row: StockRow) -> u64 {
        match row {
            StockRow::Pool => self.pool,
            StockRow::Shard(i) => self.shards.get(i as usize).copied().unwrap_or(0),
        }
    }

    /// Every row, the pool first.
    fn rows(&self) -> impl Iterator<Item = StockRow> {
        let shards = (0..self.shards.len() as u32).map(StockRow::Shard);
        std::iter::once(StockRow::Pool).chain(shards)
    }
}

/// The take before any row is read (the first try of a purchase or a hold): `taken` units out (or
/// back) of an item split over `shards` rows (1: not split), if it has `needs`. An item that is
/// not split: its own row, as always. A split one: what needs units comes from one shard picked
/// at random, so racing buyers spread over the rows; what only gives units back goes to the pool
/// (the item's own row, which no take names, so it is never the hot one). The shards in `short`
/// (seen short of the units lately: a hint, `store::shards::ShardHints`) are left out, unless
/// every shard is in it.
pub fn blind_take(
    shards: u32,
    taken: i64,
    needs: u64,
    short: &[u32],
    rng: &mut fastrand::Rng,
) -> Take {
    let row = match (shards, needs) {
        (0 | 1, _) | (_, 0) => StockRow::Pool,
        (n, _) => StockRow::Shard(pick(n.min(MAX_SHARDS), None, short, rng)),
    };
    Take { row, taken, needs }
}

/// Another shard than `row` for a blind take that met a conflict there: a row picked at random
/// among the others, those in `short` left out while there are others (the same one when there
/// is no other).
pub fn another_shard(
    shards: u32,
    row: StockRow,
    short: &[u32],
    rng: &mut fastrand::Rng,
) -> StockRow {
    match row {
        StockRow::Shard(i) if shards > 1 => {
            StockRow::Shard(pick(shards.min(MAX_SHARDS), Some(i), short, rng))
        }
        other => other,
    }
}

/// A shard of `n` at random, not `not` and none of `short` while some other remains (then not
/// `not` while there is another).
fn pick(n: u32, not: Option<u32>, short: &[u32], rng: &mut fastrand::Rng) -> u32 {
    let open: Vec<u32> = (0..n)
        .filter(|i| Some(*i) != not && !short.contains(i))
        .collect();
    if !open.is_empty() {
        return open[rng.usize(0..open.len())];
    }
    match not {
        Some(i) if n > 1 => (i + 1 + rng.u32(0..n - 1)) % n,
        Some(i) => i,
        None => rng.u32(0..n),
    }
}

/// The take planned from the rows as read, after a blind one found its row short: `needs` units
/// from one shard that has them all, picked at random among those that do; else from the pool if
/// it has them; else from as few rows as will do, fullest first, each giving what it has (all or
/// nothing: one transaction). `taken` (never more than `needs` when units are needed) comes out of
/// the same rows, in the same order; units given back (`taken` < 0) go to the first row. `None`
/// when all the rows together are short: the item is.
pub fn planned_take(
    stock: &Stocking,
    taken: i64,
    needs: u64,
    rng: &mut fastrand::Rng,
) -> Option<Vec<Take>> {
    if needs == 0 {
        let row = StockRow::Pool;
        return Some(vec![Take { row, taken, needs }]);
    }
    if stock.available() < needs {
        return None;
    }
    let whole: Vec<u32> = (0..stock.shards.len() as u32)
        .filter(|&i| stock.shards[i as usize] >= needs)
        .collect();
    let row = match whole.len() {
        0 if stock.pool >= needs => Some(StockRow::Pool),
        0 => None,
        n => Some(StockRow::Shard(whole[rng.usize(0..n)])),
    };
    if let Some(row) = row {
        return Some(vec![Take { row, taken, needs }]);
    }
    let mut rows: Vec<StockRow> = stock.rows().filter(|r| stock.units(*r) > 0).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(stock.units(*r)));
    let (mut left, mut to_take) = (needs, taken);
    let mut takes = Vec::new();
    for row in rows {
        if left == 0 {
            break;
        }
        let part = stock.units(row).min(left);
        let out = match to_take {
            t if t > 0 => t.min(part as i64),
            t if takes.is_empty() => t,
            _ => 0,
        };
        to_take -= out;
        left -= part;
        takes.push(Take {
            row,
            taken: out,
            needs: part,
        });
    }
    Some(takes)
}

/// Units moved from one row to another (the sweep's rebalance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    pub from: StockRow,
    pub to: StockRow,
    pub units: u64,
}

/// The sweep's moves for an item split over its shards: none while the pool is empty and every
/// shard holds at least half its share; else the pool into the shards and the shards evened out
/// ([`spread`]), from the rows above their share to those below it, at most one move per row
/// that gives and per row that gets.
pub fn rebalance(stock: &Stocking) -> Vec<Move> {
    let n = stock.shards.len() as u32;
    if n == 0 {
        return vec![];
    }
    let share = spread(stock.available(), n);
    let starving = (stock.shards.iter().zip(&share)).any(|(has, due)| has * 2 < *due);
    if stock.pool == 0 && !starving {
        return vec![];
    }
    let due = |row: StockRow| match row {
        StockRow::Pool => 0,
        StockRow::Shard(i) => share[i as usize],
    };
    let mut givers: Vec<(StockRow, u64)> = stock
        .rows()
        .filter_map(|r| Some((r, stock.units(r).checked_sub(due(r)).filter(|u| *u > 0)?)))
        .collect();
    let mut takers: Vec<(StockRow, u64)> = stock
        .rows()
        .filter_map(|r| Some((r, due(r).checked_sub(stock.units(r)).filter(|u| *u > 0)?)))
        .collect();
    let mut moves = Vec::new();
    while let (Some(give), Some(get)) = (givers.last_mut(), takers.last_mut()) {
        let units = give.1.min(get.1);
        moves.push(Move {
            from: give.0,
            to: get.0,
            units,
        });
        give.1 -= units;
        get.1 -= units;
        if give.1 == 0 {
            givers.pop();
        }
        if takers.last().is_some_and(|t| t.1 == 0) {
            takers.pop();
        }
    }
    moves
}

/// `total` units spread over `shards` rows: each `total / shards`, the first `total % shards` one
/// more.
pub fn spread(total: u64, shards: u32) -> Vec<u64> {
    let n = u64::from(shards.max(1));
    (0..n)
        .map(|i| total / n + u64::from(i < total % n))
        .collect()
}

/// What an admin's change does to an item's rows, as read: a restock goes to the pool; a stock
/// set outright, or another number of shards (`stock_shards`), spreads the whole stock over the
/// shards with the pool empty (one row: all of it in the pool, the item whole again); a change of
/// price, name or limit leaves the units where they are. `None` when the stock would pass
/// [`Stock::MAX`].
pub fn rows_after(stock: &Stocking, change: &ItemChange) -> Option<Stocking> {
    let shards = change.shards.unwrap_or(stock.shards.len().max(1) as u32);
    let total = match (change.stock, change.restock) {
        (_, Some(more)) => Stock::new(stock.available() + more.get())?.get(),
        (Some(set), None) => set.get(),
        (None, None) => stock.available(),
    };
    let respread = change.stock.is_some() || change.shards.is_some();
    Some(match (shards, respread, change.restock) {
        (0 | 1, true, _) => Stocking {
            pool: total,
            shards: vec![],
        },
        (n, true, _) => Stocking {
            pool: 0,
            shards: spread(total, n),
        },
        (_, false, Some(more)) => Stocking {
            pool: stock.pool + more.get(),
            shards: stock.shards.clone(),
        },
        (_, false, None) => stock.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use StockRow::{Pool, Shard};

    fn stock(pool: u64, shards: &[u64]) -> Stocking {
        Stocking {
            pool,
            shards: shards.to_vec(),
        }
    }

    fn take(row: StockRow, taken: i64, needs: u64) -> Take {
        Take { row, taken, needs }
    }

    #[test]
    fn a_blind_take_is_the_items_row_or_one_shard_and_units_back_go_to_the_pool() {
        let rng = &mut fastrand::Rng::with_seed(7);
        assert_eq!(blind_take(1, 2, 2, &[], rng), take(Pool, 2, 2), "not split");
        assert_eq!(
            blind_take(8, -2, 0, &[], rng),
            take(Pool, -2, 0),
            "units back"
        );
        let rows =
            |short: &[u32], rng: &mut fastrand::Rng| -> std::collections::BTreeSet<StockRow> {
                (0..200)
                    .map(|_| blind_take(8, 1, 1, short, rng).row)
                    .collect()
            };
        assert_eq!(
            rows(&[], rng),
            (0..8).map(Shard).collect(),
            "every shard, never the pool"
        );
        let open = [Shard(2), Shard(5)].into();
        assert_eq!(
            rows(&[0, 1, 3, 4, 6, 7], rng),
            open,
            "the shards not seen short"
        );
        let all: Vec<u32> = (0..8).collect();
        assert_eq!(rows(&all, rng).len(), 8, "all seen short: any of them");
        for _ in 0..50 {
            let other = another_shard(8, Shard(3), &[], rng);
            assert!(matches!(other, Shard(i) if i != 3 && i < 8), "{other:?}");
            let open = another_shard(8, Shard(3), &[0, 1, 2, 4, 5, 6], rng);
            assert_eq!(open, Shard(7), "the one other shard not seen short");
            let other = another_shard(8, Shard(3), &all, rng);
            assert!(matches!(other, Shard(i) if i != 3 && i < 8), "{other:?}");
        }
        assert_eq!(another_shard(1, Pool, &[], rng), Pool);
    }

    #[test]
    fn a_planned_take_one_row_each() {
        let rng = &mut fastrand::Rng::with_seed(1);
        // (case, rows, taken, needs, the take; None: the item is short)
        type Row = (&'static str, Stocking, i64, u64, Option<Vec<Take>>);
        let rows: Vec<Row> = vec![
            (
                "the only shard with enough",
                stock(0, &[0, 3, 1]),
                2,
                2,
                Some(vec![take(Shard(1), 2, 2)]),
            ),
            (
                "no shard has enough, the pool has",
                stock(5, &[1, 1]),
                2,
                2,
                Some(vec![take(Pool, 2, 2)]),
            ),
            (
                "split over the fullest rows",
                stock(1, &[2, 0, 3]),
                5,
                5,
                Some(vec![take(Shard(2), 3, 3), take(Shard(0), 2, 2)]),
            ),
            (
                "all of it, every row",
                stock(1, &[2, 0, 3]),
                6,
                6,
                Some(vec![
                    take(Shard(2), 3, 3),
                    take(Shard(0), 2, 2),
                    take(Pool, 1, 1),
                ]),
            ),
            ("one unit short", stock(1, &[2, 0, 3]), 7, 7, None),
            (
                "a renewed hold needs more than it takes",
                stock(0, &[1, 1]),
                0,
                2,
                Some(vec![take(Shard(0), 0, 1), take(Shard(1), 0, 1)]),
            ),
            (
                "a renewed hold at fewer units gives back to the first row",
                stock(0, &[1, 1]),
                -1,
                2,
                Some(vec![take(Shard(0), -1, 1), take(Shard(1), 0, 1)]),
            ),
            (
                "units only given back",
                stock(0, &[0, 0]),
                -3,
                0,
                Some(vec![take(Pool, -3, 0)]),
            ),
        ];
        for (case, stock, taken, needs, expected) in rows {
            assert_eq!(planned_take(&stock, taken, needs, rng), expected, "{case}");
        }
        // Among the shards that have enough, any one.
        let picked: std::collections::BTreeSet<StockRow> = (0..100)
            .filter_map(|_| planned_take(&stock(9, &[4, 0, 4, 3]), 4, 4, rng))
            .map(|takes| takes[0].row)
            .collect();
        assert_eq!(picked, [Shard(0), Shard(2)].into());
    }

    #[test]
    fn the_sweep_evens_the_rows_out_only_when_the_pool_holds_units_or_a_shard_starves() {
        let moved = |s: &Stocking| {
            let mut after = s.clone();
            fn units(st: &mut Stocking, row: StockRow) -> &mut u64 {
                match row {
                    Pool => &mut st.pool,
                    Shard(i) => &mut st.shards[i as usize],
                }
            }
            for m in rebalance(s) {
                *units(&mut after, m.from) -= m.units;
                *units(&mut after, m.to) += m.units;
            }
            after
        };
        // (case, before, after)
        let rows = [
            ("even", stock(0, &[3, 3, 3]), stock(0, &[3, 3, 3])),
            (
                "uneven, none starving",
                stock(0, &[4, 2, 3]),
                stock(0, &[4, 2, 3]),
            ),
            (
                "units in the pool",
                stock(7, &[1, 1, 1]),
                stock(0, &[4, 3, 3]),
            ),
            (
                "a shard starving",
                stock(0, &[8, 0, 1]),
                stock(0, &[3, 3, 3]),
            ),
            ("sold out", stock(0, &[0, 0]), stock(0, &[0, 0])),
            ("not split", stock(5, &[]), stock(5, &[])),
        ];
        for (case, before, after) in rows {
            assert_eq!(moved(&before), after, "{case}");
            assert!(
                rebalance(&before).len() <= 1 + before.shards.len(),
                "{case}"
            );
        }
    }

    #[test]
    fn an_admins_change_restocks_the_pool_or_spreads_the_whole_stock() {
        let before = stock(2, &[1, 4, 0]);
        let change = |f: fn(&mut ItemChange)| {
            let mut c = ItemChange::default();
            f(&mut c);
            rows_after(&before, &c)
        };
        assert_eq!(
            change(|c| c.restock = Stock::new(5)),
            Some(stock(7, &[1, 4, 0]))
        );
        assert_eq!(
            change(|c| c.stock = Stock::new(10)),
            Some(stock(0, &[4, 3, 3]))
        );
        assert_eq!(change(|c| c.shards = Some(2)), Some(stock(0, &[4, 3])));
        assert_eq!(change(|c| c.shards = Some(1)), Some(stock(7, &[])));
        assert_eq!(
            change(|c| c.price = crate::domain::Price::new(5)),
            Some(before.clone())
        );
        assert_eq!(change(|c| c.restock = Stock::new(Stock::MAX)), None);
        assert_eq!(spread(10, 4), [3, 3, 2, 2]);
        assert_eq!(spread(2, 4), [1, 1, 0, 0]);
    }
}
