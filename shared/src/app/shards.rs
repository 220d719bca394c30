//! The sweep's care of the items split over shards (`domain::shards`): the units in an item's
//! pool (cancellations, released holds, restocks) moved into its shards, the shards evened out
//! when one starves, and the figure the listing shows of its shards (`in_shards`) made what they
//! hold. Run by `release-holds` every minute, for each item of the registry.

use crate::domain::shards::rebalance;
use crate::domain::ItemId;
use crate::store::StoreError;
use crate::Store;

/// What one item's care came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rebalanced {
    /// Moves made, and the units they moved.
    pub moves: usize,
    pub units: u64,
    /// Moves not made: a sale took the units first, or the rows kept conflicting (the next
    /// sweep looks again).
    pub missed: usize,
}

/// Reads all of `item`'s rows (one `BatchGetItem`, two when it has more shards than the read
/// asked for), makes the moves `rebalance` decides, each a transaction of the two rows that only
/// moves units the giving row still has, then sets the listing's figure of the shards if it
/// changed. Sales go on meanwhile: the figure is what the shards held when they were read, give
/// or take what the moves moved.
pub async fn rebalance_item(
    store: &Store,
    item: ItemId,
    shards: u32,
) -> Result<Rebalanced, StoreError> {
    let mut rows = store.read_rows(&[(item, shards)]).await?;
    let Some(rows) = rows.remove(&item) else {
        return Ok(Rebalanced::default());
    };
    let mut done = Rebalanced::default();
    let mut in_shards: u64 = rows.stock.shards.iter().sum();
    for moved in rebalance(&rows.stock) {
        let into_shards = |row| matches!(row, crate::domain::StockRow::Shard(_));
        match store.move_units(item, &moved).await {
            Ok(true) => {
                done.moves += 1;
                done.units += moved.units;
                if into_shards(moved.to) && !into_shards(moved.from) {
                    in_shards += moved.units;
                }
            }
            Ok(false) => done.missed += 1,
            Err(StoreError::Unavailable(cause)) => {
                tracing::debug!(%cause, "a move of units met conflicts");
                done.missed += 1;
            }
            Err(other) => return Err(other),
        }
    }
    if rows.stock.shards.is_empty() {
        return Ok(done);
    }
    if in_shards != rows.in_shards {
        store.list_in_shards(item, in_shards).await?;
    }
    Ok(done)
}
