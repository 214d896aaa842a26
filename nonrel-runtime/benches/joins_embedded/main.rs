//! Related selections on the embedded backend (a file store), wall time per operation,
//! both sides measured in the same run and reported as `ratio <name> <value> <max allowed>`:
//!
//! - `select_related_100_vs_1_embedded`: a query of 100 posts with their 100 distinct
//!   authors (`select_related`: the query, then one batched key read) over the same query
//!   of 1 post with its author.
//!
//! And one `note` for context: `select_related_decode_floor_embedded`, the time to decode the
//! same 100 posts and 100 authors with the models' own decoders from their stored bytes
//! (read once beforehand: no storage, no query) over `select_related` of 1 post. Any
//! implementation decodes those records, so 100 parents cannot cost less than this many
//! times 1 parent here; a floor above 3 means no implementation meets the ratio's target.
//!
//! Alone: `cargo bench -p nonrel-runtime --bench joins_embedded`.

#[path = "../joins/related.rs"]
mod related;

use criterion::Criterion;
use nonrel_runtime::{Backend, Database, Embedded, KeyValue, Model};
use related::{load, measure, select_related, Post, User};
use std::time::Duration;

/// The stored bytes of the 100 posts and their 100 authors that `select_related(100)` returns,
/// with their keys.
type Stored = Vec<(KeyValue, Vec<u8>)>;

async fn stored(db: &Database<Embedded>) -> (Stored, Stored) {
    let posts = db.query::<Post>().filter(Post::n().lt(100)).all().await.expect("posts");
    let post_keys: Vec<KeyValue> = posts.iter().map(|p| p.key_value().expect("saved")).collect();
    let author_keys: Vec<KeyValue> = posts.iter().map(|p| p.author.key().value().clone()).collect();
    let read = |m, keys: Vec<KeyValue>| async move {
        let docs = db.backend().get_many(m, keys.clone()).await.expect("stored bytes");
        keys.into_iter().zip(docs).map(|(k, d)| (k, d.expect("stored"))).collect::<Stored>()
    };
    (read(Post::DESC, post_keys).await, read(User::DESC, author_keys).await)
}

/// Decodes every stored post and author with the models' own decoders.
fn decode(posts: &Stored, users: &Stored) -> usize {
    let posts = posts.iter().map(|(k, d)| Post::decode(Some(k), d).expect("post decodes"));
    let users = users.iter().map(|(k, d)| User::decode(Some(k), d).expect("user decodes"));
    posts.map(std::hint::black_box).count() + users.map(std::hint::black_box).count()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path().join("joins.redb")).expect("open");
    rt.block_on(load(&db));
    let (posts, users) = rt.block_on(stored(&db));
    assert_eq!((posts.len(), users.len()), (100, 100));
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
    let decoded = measure(&mut c, &rt, "embedded/decode/100", || async { decode(&posts, &users) });
    c.final_summary();
    println!(
        "time embedded/select_related/1 {:.1}us embedded/select_related/100 {:.1}us embedded/query/100 {:.1}us embedded/decode/100 {:.1}us (fastest)",
        one / 1e3,
        hundred / 1e3,
        plain / 1e3,
        decoded / 1e3
    );
    println!("ratio select_related_100_vs_1_embedded {:.3} 3", hundred / one);
    println!("note select_related_decode_floor_embedded {:.3}", decoded / one);
}
