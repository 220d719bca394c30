//! The five tables, as `template.yaml` declares them. A test compares the two, so local tables
//! never drift from what is deployed.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use super::{Store, StoreError};
use crate::Tables;

/// Name of the catalog's listing index: every item in price order.
pub const CATALOG_BY_PRICE_INDEX: &str = "by-price";
/// Name of the carts' sparse index of carts holding units, by when their first hold ends.
pub const CARTS_BY_EXPIRY_INDEX: &str = "by-expiry";
/// Name of the orders' index by user, newest last.
pub const ORDERS_BY_USER_INDEX: &str = "by-user";
/// Name of the orders' sparse index of orders waiting for a payment, by when it is due.
pub const ORDERS_BY_DUE_INDEX: &str = "by-due";

/// What an index copies from its table's items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projected {
    All,
    KeysOnly,
}

/// What a table's stream records of each change (`StreamSpecification.StreamViewType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streamed {
    /// The item before and after the change: what the order events are made from
    /// (`publish-order-events`).
    NewAndOldImages,
}

impl Streamed {
    /// The name CloudFormation and the DynamoDB API give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    S,
    N,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub partition_key: (&'static str, AttrType),
    pub sort_key: Option<(&'static str, AttrType)>,
    pub projection: Projected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    /// The table's logical id in `template.yaml`.
    pub logical_id: &'static str,
    /// The environment variable that carries its name to the functions.
    pub env_var: &'static str,
    pub name: String,
    pub partition_key: (&'static str, AttrType),
    pub sort_key: Option<(&'static str, AttrType)>,
    pub indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<&'static str>,
    /// Its DynamoDB stream, if it has one.
    pub stream: Option<Streamed>,
}

/// Every table the functions use.
pub fn table_definitions(tables: &Tables) -> Vec<TableDef> {
    vec![
        TableDef {
            logical_id: "CatalogTable",
            env_var: "CATALOG_TABLE",
            name: tables.catalog.clone(),
            partition_key: ("id", AttrType::N),
            sort_key: None,
            indexes: vec![IndexDef {
                name: CATALOG_BY_PRICE_INDEX,
                partition_key: ("list_pk", AttrType::S),
                sort_key: Some(("price_key", AttrType::S)),
                projection: Projected::All,
            }],
            ttl_attribute: None,
            stream: None,
        },
        TableDef {
            logical_id: "CartsTable",
            env_var: "CARTS_TABLE",
            name: tables.carts.clone(),
            partition_key: ("user_id", AttrType::S),
            sort_key: None,
            indexes: vec![IndexDef {
                name: CARTS_BY_EXPIRY_INDEX,
                partition_key: ("sweep_pk", AttrType::S),
                sort_key: Some(("next_expiry", AttrType::N)),
                projection: Projected::KeysOnly,
            }],
            ttl_attribute: Some("expires_at"),
            stream: None,
        },
        TableDef {
            logical_id: "OrdersTable",
            env_var: "ORDERS_TABLE",
            name: tables.orders.clone(),
            partition_key: ("order_id", AttrType::S),
            sort_key: None,
            indexes: vec![
                IndexDef {
                    name: ORDERS_BY_USER_INDEX,
                    partition_key: ("user_id", AttrType::S),
                    sort_key: Some(("created_key", AttrType::S)),
                    projection: Projected::All,
                },
                IndexDef {
                    name: ORDERS_BY_DUE_INDEX,
                    partition_key: ("due_pk", AttrType::S),
                    sort_key: Some(("payment_due_by", AttrType::N)),
                    projection: Projected::KeysOnly,
                },
            ],
            // Only users' keys' records of cart writes expire; orders have no `expires_at`.
            ttl_attribute: Some("expires_at"),
            // Every change of an order, before and after: the order events' source
            // (`publish-order-events`). Read free of charge by Lambda; kept 24 hours.
            stream: Some(Streamed::NewAndOldImages),
        },
        TableDef {
            logical_id: "IdempotencyTable",
            env_var: "IDEMPOTENCY_TABLE",
            name: tables.idempotency.clone(),
            partition_key: ("pk", AttrType::S),
            sort_key: None,
            indexes: vec![],
            ttl_attribute: Some("expires_at"),
            stream: None,
        },
        TableDef {
            logical_id: "DiscountsTable",
            env_var: "DISCOUNTS_TABLE",
            name: tables.discounts.clone(),
            // `CODE#{code}`: a code, its terms and its uses; `USE#{code}#{user}`: a customer's
            // uses of a code with a per-customer limit (`store::discounts`).
            partition_key: ("pk", AttrType::S),
            sort_key: None,
            indexes: vec![],
            ttl_attribute: None,
            stream: None,
        },
    ]
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("name and type are set")
}

fn keys(pk: (&str, AttrType), sk: Option<(&str, AttrType)>) -> Vec<KeySchemaElement> {
    let mut keys = vec![key(pk.0, KeyType::Hash)];
    keys.extend(sk.map(|(name, _)| key(name, KeyType::Range)));
    keys
}

fn stream_specification(view: Streamed) -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(match view {
            Streamed::NewAndOldImages => StreamViewType::NewAndOldImages,
        })
        .build()
        .expect("the flag and the view are set")
}

fn attribute(name: &str, t: AttrType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(match t {
            AttrType::S => ScalarAttributeType::S,
            AttrType::N => ScalarAttributeType::N,
        })
        .build()
        .expect("name and type are set")
}

impl Store {
    /// Creates the tables that do not exist yet (and their TTL setting and stream). Idempotent.
    pub async fn create_tables(&self) -> Result<(), StoreError> {
        self.create_tables_with(true).await
    }

    /// [`Store::create_tables`] without the streams, for tests that read none: DynamoDB Local
    /// writes a stream record inside the write that makes it, so a transaction on a table with
    /// a stream takes about half as long again there, enough to time out a 120-buyer flash sale
    /// on a loaded machine (DynamoDB's streams cost a write nothing).
    pub async fn create_tables_without_streams(&self) -> Result<(), StoreError> {
        self.create_tables_with(false).await
    }

    async fn create_tables_with(&self, streams: bool) -> Result<(), StoreError> {
        for def in table_definitions(self.tables()) {
            let def = TableDef {
                stream: def.stream.filter(|_| streams),
                ..def
            };
            let mut attributes = vec![def.partition_key];
            attributes.extend(def.sort_key);
            for index in &def.indexes {
                attributes.push(index.partition_key);
                attributes.extend(index.sort_key);
            }
            attributes.sort_by_key(|(name, _)| *name);
            attributes.dedup_by_key(|(name, _)| *name);

            let mut request = self
                .client()
                .create_table()
                .table_name(&def.name)
                .billing_mode(BillingMode::PayPerRequest)
                .set_key_schema(Some(keys(def.partition_key, def.sort_key)))
                .set_attribute_definitions(Some(
                    attributes.iter().map(|(n, t)| attribute(n, *t)).collect(),
                ));
            for index in &def.indexes {
                request = request.global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(index.name)
                        .set_key_schema(Some(keys(index.partition_key, index.sort_key)))
                        .projection(
                            Projection::builder()
                                .projection_type(match index.projection {
                                    Projected::All => ProjectionType::All,
                                    Projected::KeysOnly => ProjectionType::KeysOnly,
                                })
                                .build(),
                        )
                        .build()
                        .expect("name, keys and projection are set"),
                );
            }
            if let Some(view) = def.stream {
                request = request.stream_specification(stream_specification(view));
            }
            match request.send().await {
                Ok(_) => {}
                Err(e) if e.code() == Some("ResourceInUseException") => {
                    self.enable_stream(&def).await?;
                    continue;
                }
                Err(e) => return Err(StoreError::from_sdk(e)),
            }
            if let Some(attribute) = def.ttl_attribute {
                self.client()
                    .update_time_to_live()
                    .table_name(&def.name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .enabled(true)
                            .attribute_name(attribute)
                            .build()
                            .expect("name and flag are set"),
                    )
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
            }
        }
        Ok(())
    }

    /// A table made before it had a stream (a DynamoDB Local that outlived an older checkout)
    /// gets it, as CloudFormation would give it on deploy; any other table is left alone.
    async fn enable_stream(&self, def: &TableDef) -> Result<(), StoreError> {
        let Some(view) = def.stream else {
            return Ok(());
        };
        let table = self
            .client()
            .describe_table()
            .table_name(&def.name)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let spec = table.table().and_then(|t| t.stream_specification());
        if spec.is_some_and(|s| s.stream_enabled()) {
            return Ok(());
        }
        self.client()
            .update_table()
            .table_name(&def.name)
            .stream_specification(stream_specification(view))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Deletes the tables (tests clean up after themselves with it).
    pub async fn delete_tables(&self) -> Result<(), StoreError> {
        for def in table_definitions(self.tables()) {
            match self
                .client()
                .delete_table()
                .table_name(&def.name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(StoreError::from_sdk(e)),
            }
        }
        Ok(())
    }
}
