//! The same models on two backends at once: write on the embedded default, copy
//! everything to MongoDB, query there, change records there with an atomic update, and
//! copy them back.
//!
//! Needs a MongoDB server: `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run -p examples
//! --bin multi_db` (`scripts/servers.sh start` starts a MongoDB-compatible one and writes
//! its URI to `.servers/env`).

use nonrel_runtime::{Database, Key, Model};

/// A product, found by its SKU.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "products")]
struct Product {
    #[field(key)]
    sku: String,
    #[field(index)]
    category: String,
    price_cents: i64,
    stock: u32,
}

/// An order with an automatic key.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "orders")]
struct Order {
    #[field(key)]
    id: Option<Key<Order>>,
    #[field(index)]
    customer: String,
    skus: Vec<String>,
}

#[tokio::main]
async fn main() -> nonrel_runtime::Result<()> {
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("set MONGODB_URI to a MongoDB server (scripts/servers.sh start; source .servers/env)");
        std::process::exit(2);
    };
    let local = Database::in_memory()?;
    let mut products = vec![
        Product { sku: "kb-01".into(), category: "keyboards".into(), price_cents: 8900, stock: 12 },
        Product { sku: "kb-02".into(), category: "keyboards".into(), price_cents: 12900, stock: 3 },
        Product { sku: "ms-01".into(), category: "mice".into(), price_cents: 2900, stock: 40 },
    ];
    local.save_many(&mut products).await?;
    let mut order = Order { id: None, customer: "ann".into(), skus: vec!["kb-01".into(), "ms-01".into()] };
    let order_key = local.save(&mut order).await?;
    println!("embedded: {} products, order {order_key}", local.query::<Product>().count().await?);

    let database = format!("nonrel_multi_db_{}", std::process::id());
    let remote = Database::connect(&uri, &database).await?;
    remote.sync_indexes().await?;
    let copied = local.copy_all_to(&remote).await?;
    println!("copied {copied} records to MongoDB database {database}");

    let keyboards = remote.query::<Product>().filter(Product::category().eq("keyboards")).all().await?;
    println!("keyboards on MongoDB: {:?}", keyboards.iter().map(|p| &p.sku).collect::<Vec<_>>());
    let sold = remote
        .query::<Product>()
        .filter(Product::category().eq("keyboards"))
        .update()
        .inc(Product::stock(), 10u32)
        .await?;
    println!("restocked keyboards on MongoDB: {} matched, {} modified", sold.matched, sold.modified);
    let same_order = remote.get(&order_key).await?.expect("copied with its key");
    println!("order {order_key} on MongoDB is the same record: {}", same_order == order);

    let back = Database::in_memory()?;
    remote.copy_to::<Product, _>(&back).await?;
    let kb = back.get::<Product>("kb-02").await?.expect("copied back");
    println!("copied back: kb-02 stock is now {}", kb.stock);
    remote.backend().database().drop().await.map_err(|e| {
        nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Storage, format!("dropping the example database: {e}"))
    })?;
    Ok(())
}
