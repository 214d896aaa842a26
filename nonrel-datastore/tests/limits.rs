//! Datastore's size limits: an indexed string over 1,500 bytes and an entity over 1 MiB are
//! `TooLarge` errors naming the model and the field, raised before anything is sent (no
//! call is made, nothing is written); values just under the limits are stored.

mod support;

use nonrel_runtime::{Database, ErrorKind, Key, Model};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "limit_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    title: String,
    #[field(index(iexact))]
    slug: String,
    body: String,
}

fn post(title: usize, slug: usize, body: usize) -> Post {
    Post { id: None, title: "t".repeat(title), slug: "s".repeat(slug), body: "b".repeat(body) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_values_are_too_large_errors_naming_model_and_field() {
    let ds = support::backend();
    let db = Database::new(ds.clone());

    // At the limits: stored and read back.
    let mut fits = post(1500, 1500, 1_000_000);
    db.save(&mut fits).await.expect("an indexed string of 1,500 bytes and an entity under 1 MiB");
    assert_eq!(db.get::<Post>(fits.id.clone().unwrap()).await.unwrap(), Some(fits.clone()));

    let cases = [
        (post(1501, 1, 1), "title", "indexed string of 1501 bytes"),
        // The lookup's index field (the lowered slug) is indexed: the error names the field.
        (post(1, 1501, 1), "slug", "indexed string of 1501 bytes"),
        (post(1, 1, 1_100_000), "body", "a Datastore entity holds at most 1 MiB"),
    ];
    for (record, field, says) in cases {
        let before = ds.rpc_counts();
        let err = db.save(&mut record.clone()).await.expect_err(field);
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
        assert_eq!(err.model(), Some("Post"), "{err}");
        assert_eq!(err.field(), Some(field), "{err}");
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!((ds.rpc_counts() - before).total(), 0, "refused before sending: {err}");

        // In a batch: the item is named, and nothing of the batch is written.
        let mut batch = [post(3, 3, 3), record.clone()];
        let err = db.save_many(&mut batch).await.expect_err(field);
        assert_eq!((err.kind(), err.field(), err.item()), (ErrorKind::TooLarge, Some(field), Some(1)), "{err}");
    }
    assert_eq!(db.query::<Post>().count().await.unwrap(), 1, "only the record that fits was written");
}
