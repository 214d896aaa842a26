//! Related selections on the embedded backend (a file store), wall time per operation,
//! both sides measured in the same run and reported as `ratio <name> <value> <max allowed>`:
//!
//! - `select_related_100_vs_1_embedded`: a query of 100 posts with their 100 distinct
//!   authors (`select_related`: the query, then one batched key read) over the same query
//!   of 1 post with its author.
//!
//! Alone: `cargo bench -p nonrel-runtime --bench joins_embedded`.

#[path = "../joins/related.rs"]
mod related;

use criterion::Criterion;
use nonrel_runtime::Database;
use related::{load, measure, select_related, Post};
use std::time::Duration;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path().join("joins.redb")).expect("open");
    rt.block_on(load(&db));
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let one = measure(&mut c, &rt, "embedded/select_related/1", || select_related(&db, 1));
    let hundred = measure(&mut c, &rt, "embedded/select_related/100", || select_related(&db, 100));
    let plain = measure(&mut c, &rt, "embedded/query/100", || async {
        db.query::<Post>().filter(Post::n().lt(100)).all().await.expect("query").len()
    });
    c.final_summary();
    println!(
        "time embedded/select_related/1 {:.1}us embedded/select_related/100 {:.1}us embedded/query/100 {:.1}us (fastest)",
        one / 1e3,
        hundred / 1e3,
        plain / 1e3
    );
    println!("ratio select_related_100_vs_1_embedded {:.3} 3", hundred / one);
}
