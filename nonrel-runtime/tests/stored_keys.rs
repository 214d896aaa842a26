//! The embedded backend's table keys: `StoredKey` orders keys exactly as their bytes, and a
//! file written before it (records and index tables typed `&[u8]`) is converted when it is
//! opened, every record, index entry, count and automatic key kept.

use nonrel_runtime::conformance::Rng;
use nonrel_runtime::{Database, Key, Model, Query, StoredKey};
use redb::{Key as _, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use std::cmp::Ordering;

/// Seeded from `NONREL_FUZZ_SEED` when set, so a failure runs again the same way.
fn seed() -> u64 {
    std::env::var("NONREL_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11)
}

/// Random bytes from a small alphabet (so keys share prefixes and tie), of a length around
/// the lengths keys have: empty, short, an integer key's nine, an ObjectId's thirteen, long.
fn bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.pick(&[0, 1, 7, 8, 9, 9, 9, 10, 13, 16, 17, 24, 40]);
    let alphabet = rng.pick(&[&[0u8, 1, 255][..], &[0x10, 0x80, 0x7f][..], &[b'a', b'b'][..]]);
    (0..len).map(|_| rng.pick(alphabet)).collect()
}

#[test]
fn stored_keys_compare_exactly_as_their_bytes() {
    let mut rng = Rng::new(seed());
    for case in 0..200_000 {
        let a = bytes(&mut rng);
        // Often the same bytes, or the same with one byte changed or one added.
        let b = match rng.below(4) {
            0 => a.clone(),
            1 if !a.is_empty() => {
                let mut b = a.clone();
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
                b
            }
            2 => {
                let mut b = a.clone();
                b.push(rng.next() as u8);
                b
            }
            _ => bytes(&mut rng),
        };
        assert_eq!(StoredKey::compare(&a, &b), a.cmp(&b), "case {case}: {a:?} against {b:?}");
        assert_eq!(StoredKey::compare(&b, &a), b.cmp(&a), "case {case}: {b:?} against {a:?}");
    }
    // Integer keys as the backend stores them: a tag, then the number's eight bytes in order.
    let int = |n: i64| {
        let mut k = vec![0x10];
        k.extend_from_slice(&((n as u64) ^ (1 << 63)).to_be_bytes());
        k
    };
    for (x, y) in [(0, 1), (-1, 0), (255, 256), (i64::MIN, i64::MAX), (1 << 56, (1 << 56) - 1), (7, 7)] {
        assert_eq!(StoredKey::compare(&int(x), &int(y)), x.cmp(&y), "{x} against {y}");
    }
    assert_eq!(StoredKey::compare(b"", b""), Ordering::Equal);
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "upgraded_posts", count_by(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    author: String,
    #[field(unique)]
    slug: String,
    #[field(index(covering))]
    title: String,
    words: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "upgraded_tags")]
struct Tag {
    #[field(key)]
    name: String,
    #[field(index)]
    uses: i64,
}

/// Everything the file answers, read through nonrel.
#[derive(Debug, PartialEq)]
struct Answers {
    posts: Vec<Post>,
    tags: Vec<Tag>,
    by_author: Vec<(String, Vec<Post>, u64, u64)>,
    by_slug: Vec<Option<Post>>,
    by_title: Vec<Post>,
    tags_by_uses: Vec<Tag>,
    newest: Vec<Post>,
}

const AUTHORS: [&str; 4] = ["ann", "bob", "cy", "di"];

async fn answers(db: &Database<nonrel_runtime::Redb>) -> Answers {
    let mut by_author = Vec::new();
    for a in AUTHORS {
        let q = || db.query::<Post>().filter(Post::author().eq(a));
        let counted = db.count_by(Post::author(), a).await.unwrap();
        by_author.push((a.to_owned(), q().all().await.unwrap(), q().count().await.unwrap(), counted));
    }
    let mut by_slug = Vec::new();
    for i in [0, 3, 17, 59, 1000] {
        by_slug.push(db.query::<Post>().filter(Post::slug().eq(format!("post-{i}"))).first().await.unwrap());
    }
    Answers {
        posts: db.query::<Post>().all().await.unwrap(),
        tags: db.query::<Tag>().all().await.unwrap(),
        by_author,
        by_slug,
        by_title: db.query::<Post>().filter(Post::title().gte("title 3")).all().await.unwrap(),
        tags_by_uses: db.query::<Tag>().filter(Tag::uses().gt(4)).filter(Tag::uses().lte(20)).all().await.unwrap(),
        newest: db.query::<Post>().order_by(Post::id().desc()).limit(5).all().await.unwrap(),
    }
}

/// The names of the file's records and index tables.
fn keyed_tables(path: &std::path::Path) -> Vec<String> {
    let raw = redb::Database::open(path).unwrap();
    let tx = raw.begin_read().unwrap();
    let names: Vec<String> = tx.list_tables().unwrap().map(|t| t.name().to_owned()).collect();
    let keyed = |n: &String| ["records:", "index:", "unique:", "covering:"].iter().any(|p| n.starts_with(p));
    names.into_iter().filter(keyed).collect()
}

type Typed<'a> = TableDefinition<'a, StoredKey, &'static [u8]>;
type Untyped<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Rewrites the file's records and index tables as files written before `StoredKey` held
/// them: the same entries in tables typed `&[u8]`.
fn write_as_before(path: &std::path::Path, tables: &[String]) {
    let raw = redb::Database::open(path).unwrap();
    let tx = raw.begin_write().unwrap();
    for name in tables {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = {
            let table = tx.open_table(Typed::new(name)).unwrap();
            table.iter().unwrap().map(|e| e.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).unwrap()).collect()
        };
        assert!(!entries.is_empty(), "{name} holds entries");
        tx.delete_table(Typed::new(name)).unwrap();
        let mut table = tx.open_table(Untyped::new(name)).unwrap();
        for (k, v) in &entries {
            table.insert(k.as_slice(), v.as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// How many of `tables` open with each key type.
fn typed_and_untyped(path: &std::path::Path, tables: &[String]) -> (usize, usize) {
    let raw = redb::Database::open(path).unwrap();
    let tx = raw.begin_read().unwrap();
    let typed = tables.iter().filter(|n| tx.open_table(Typed::new(n)).is_ok()).count();
    let untyped = tables.iter().filter(|n| tx.open_table(Untyped::new(n)).is_ok()).count();
    (typed, untyped)
}

#[tokio::test]
async fn a_file_written_with_byte_keys_is_converted_when_opened_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before.db");
    let mut rng = Rng::new(seed());
    let before = {
        let db = Database::open(&path).unwrap();
        let mut posts: Vec<Post> = (0..60)
            .map(|i| Post {
                id: None,
                author: rng.pick(&AUTHORS).to_owned(),
                slug: format!("post-{i}"),
                title: format!("title {}", rng.below(10)),
                words: rng.below(500) as i64,
            })
            .collect();
        db.save_many(&mut posts).await.unwrap();
        for i in 0..25 {
            db.save(&mut Tag { name: format!("tag-{}", rng.below(1000)), uses: i }).await.unwrap();
        }
        assert!(db.integrity_check().await.unwrap().is_ok());
        answers(&db).await
    };
    let tables = keyed_tables(&path);
    assert_eq!(tables.len(), 6, "records of two models and four indexes: {tables:?}");
    write_as_before(&path, &tables);
    assert_eq!(typed_and_untyped(&path, &tables), (0, 6), "the file is as an earlier version wrote it");

    // Opening converts every table, and every answer is the one the file gave before.
    {
        let db = Database::open_existing(&path).unwrap();
        assert_eq!(answers(&db).await, before);
        assert!(db.integrity_check().await.unwrap().is_ok());
        // Writes go on where the file left off: the next automatic key follows the last.
        let mut post = Post { id: None, author: "ann".into(), slug: "post-new".into(), title: "t".into(), words: 1 };
        db.save(&mut post).await.unwrap();
        let last = before.posts.iter().filter_map(|p| p.id.clone()).max().unwrap();
        assert!(post.id.clone().unwrap() > last, "{:?} after {last:?}", post.id);
        let dup = Post { id: None, slug: "post-3".into(), ..post.clone() };
        assert!(db.save(&mut dup.clone()).await.is_err(), "the unique index still holds its entries");
    }
    assert_eq!(typed_and_untyped(&path, &tables), (6, 0));
    assert!(!keyed_tables(&path).is_empty() && !scratch_left(&path), "no scratch table is left behind");

    // A converted file opens again as it is.
    let db = Database::open(&path).unwrap();
    let after = answers(&db).await;
    assert_eq!(after.posts.len(), before.posts.len() + 1);
    assert_eq!((after.tags, after.tags_by_uses), (before.tags, before.tags_by_uses));
}

fn scratch_left(path: &std::path::Path) -> bool {
    let raw = redb::Database::open(path).unwrap();
    let tx = raw.begin_read().unwrap();
    let left = tx.list_tables().unwrap().any(|t| t.name().starts_with("nonrel:upgrading"));
    left
}

#[tokio::test]
async fn a_query_on_the_key_reads_the_same_through_stored_keys() {
    // Keys across the sign and byte boundaries, given out of order, read back in key order.
    let db = Database::in_memory().unwrap();
    let keys = [-300i64, -256, -1, 0, 1, 255, 256, 65_535, 65_536, i64::MAX, i64::MIN + 1];
    let mut shuffled = keys.to_vec();
    Rng::new(seed()).shuffle(&mut shuffled);
    for k in &shuffled {
        db.save(&mut Plain { id: *k, n: *k % 7 }).await.unwrap();
    }
    let read: Vec<i64> = db.query::<Plain>().all().await.unwrap().iter().map(|p| p.id).collect();
    let mut sorted = keys.to_vec();
    sorted.sort();
    assert_eq!(read, sorted);
    let q = Query::<Plain>::new().filter(Plain::id().gte(-256)).filter(Plain::id().lt(65_536));
    let range: Vec<i64> = db.query::<Plain>().with(q).all().await.unwrap().iter().map(|p| p.id).collect();
    let expected: Vec<i64> = sorted.iter().copied().filter(|k| (-256..65_536).contains(k)).collect();
    assert_eq!(range, expected);
    for k in keys {
        assert_eq!(db.get::<Plain>(k).await.unwrap().map(|p| p.id), Some(k));
    }
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "stored_key_plain")]
struct Plain {
    #[field(key)]
    id: i64,
    #[field(index)]
    n: i64,
}
