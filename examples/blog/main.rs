//! The blog example: users, posts with embedded comments, tags and a reference to the
//! author, on the embedded default backend (a redb file).
//!
//! Run it with `cargo run -p examples --bin blog` (optionally pass a database path). It ends
//! by dumping every record to a JSON-lines file beside the database, which
//! `Database::load_from_file` reads into any backend.
//!
//! `cargo run -p examples --bin blog -- manage --db <path> <subcommand>` runs the management
//! command on a database of these models instead (`models`, `check`, `dump`, `load`, `count
//! Post`, `explain Post title=Hello`, ...; `manage --help` lists them).

use nonrel_runtime::{Database, Key, Model, Ref, Utc};

/// A user, found by a natural string key.
#[derive(Model, Debug, Clone)]
#[model(collection = "users")]
struct User {
    #[field(key)]
    username: String,
    #[field(unique)]
    email: String,
    display_name: String,
}

/// A comment, stored inside its post.
#[derive(nonrel_runtime::Embedded, Debug, Clone)]
struct Comment {
    author: String,
    text: String,
    likes: u32,
}

/// A post with an automatic key, and a copy of its author's display name (so posts can be
/// found by it on the embedded backend, which has no joins).
#[derive(Model, Debug, Clone)]
#[model(collection = "posts", index = "comments.author", denormalize(author.display_name))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    /// `exact` keeps the plain index; `icontains` declares the emulated lookup the embedded
    /// store cannot run natively (its trigram index is kept on every save).
    #[field(index(exact, icontains))]
    title: String,
    /// Deleting a user deletes their posts; nothing cascades unless declared.
    #[field(on_delete = cascade)]
    author: Ref<User>,
    #[field(index)]
    tags: Vec<String>,
    comments: Vec<Comment>,
    #[field(index)]
    views: u64,
    published_at: nonrel_runtime::DateTime<Utc>,
}

/// A lookup across the `Ref` through the denormalized copy, the copy following its user, the
/// posts with their authors loaded in one batched read, and the users with their posts (a
/// reverse prefetch: one query for all of them).
async fn joins(db: &Database<nonrel_runtime::Redb>) -> nonrel_runtime::Result<()> {
    let by_ann = Post::author().join(User::display_name()).eq("Ann");
    let titles: Vec<String> = db.query::<Post>().filter(by_ann).all().await?.into_iter().map(|p| p.title).collect();
    println!("posts by the user displayed as Ann (a JOIN on the local copy): {titles:?}");
    let mut bob: User = db.get("bob").await?.expect("bob was saved");
    bob.display_name = "Robert".into();
    db.save(&mut bob).await?;
    let by_robert = db.query::<Post>().filter(Post::author().join(User::display_name()).eq("Robert")).count().await?;
    println!("bob renamed to Robert: {by_robert} post(s) found by the new name (every copy was updated)");
    let rows = db.query::<Post>().order_by(Post::title().asc()).select_related(Post::author()).rows().await?;
    for row in &rows {
        let author = row.related(Post::author())?.map_or_else(|| "?".into(), |u| u.display_name);
        println!("  {:<28} by {author}", row.record.title);
    }
    // The other way round: every user with the posts referring to them, in one `in` query.
    let users = db.query::<User>().prefetch_reverse(Post::author()).defer_related(Post::tags()).rows().await?;
    for user in &users {
        let titles: Vec<String> = user.reverse(Post::author())?.into_iter().map(|p| p.title).collect();
        println!("  {:<10} wrote {titles:?}", user.record.username);
    }
    Ok(())
}

fn comment(author: &str, text: &str, likes: u32) -> Comment {
    Comment { author: author.into(), text: text.into(), likes }
}

#[tokio::main]
async fn main() -> nonrel_runtime::Result<()> {
    // `blog manage ...`: the management command, on this program's models.
    if let Some(exit) = nonrel_manage::subcommand("manage").await {
        exit.exit();
    }
    let path = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| {
        let path = std::env::temp_dir().join("nonrel-blog-example.db");
        let _ = std::fs::remove_file(&path);
        path
    });
    let db = Database::open(&path)?;
    println!("opened the embedded database at {}", path.display());

    let mut users = vec![
        User { username: "ann".into(), email: "ann@example.com".into(), display_name: "Ann".into() },
        User { username: "bob".into(), email: "bob@example.com".into(), display_name: "Bob".into() },
    ];
    db.save_many(&mut users).await?;
    println!("saved {} users in one write", users.len());

    let now = Utc::now();
    let mut posts = vec![
        Post {
            id: None,
            title: "Why embedded databases".into(),
            author: Ref::new(Key::from("ann")),
            tags: vec!["databases".into(), "rust".into()],
            comments: vec![comment("bob", "Great read", 3), comment("cy", "Agreed", 1)],
            views: 1200,
            published_at: now,
        },
        Post {
            id: None,
            title: "Typed queries in Rust".into(),
            author: Ref::new(Key::from("ann")),
            tags: vec!["rust".into()],
            comments: vec![comment("cy", "More please", 5)],
            views: 640,
            published_at: now,
        },
        Post {
            id: None,
            title: "Notes on key-value stores".into(),
            author: Ref::new(Key::from("bob")),
            tags: vec!["databases".into()],
            comments: vec![],
            views: 85,
            published_at: now,
        },
    ];
    let keys = db.save_many(&mut posts).await?;
    let urls: Vec<String> = keys.iter().map(|k| format!("/posts/{k}")).collect();
    println!("saved {} posts; their URLs: {}", keys.len(), urls.join(", "));

    let rust = db.query::<Post>().filter(Post::tags().contains("rust")).order_by(Post::views().desc()).all().await?;
    println!("posts tagged rust, most viewed first:");
    for p in &rust {
        println!("  {:>5} views  {}", p.views, p.title);
    }

    let by_bob = db.query::<Post>().filter(Post::comments().author().eq("bob")).all().await?;
    println!("posts with a comment by bob: {:?}", by_bob.iter().map(|p| &p.title).collect::<Vec<_>>());

    joins(&db).await?;

    let popular = db.query::<Post>().filter(Post::views().gte(500u64)).count().await?;
    let any_typed = db.query::<Post>().filter(Post::title().startswith("Typed")).exists().await?;
    let capped = db.query::<Post>().count_upto(2).await?;
    println!("posts with at least 500 views: {popular}; a title starting with \"Typed\": {any_typed}; count up to 2: {capped}");

    // An emulated lookup: without `icontains` in the title's declaration this line would not
    // compile on the embedded backend; with it, the query reads the trigram index.
    let about_rust = db.query::<Post>().filter(Post::title().icontains("RUST")).all().await?;
    println!("titles containing \"rust\" in any case: {:?}", about_rust.iter().map(|p| &p.title).collect::<Vec<_>>());

    let from_url: Key<Post> = urls[2].trim_start_matches("/posts/").parse()?;
    let mut post = db.get(&from_url).await?.expect("the post was just saved");
    post.views += 1;
    post.comments.push(comment("ann", "Thanks for reading", 0));
    db.save(&mut post).await?;
    let author = db.get(post.author.key()).await?.expect("the author exists");
    println!(
        "updated \"{}\" by {}: {} views, {} comment(s)",
        post.title,
        author.display_name,
        post.views,
        post.comments.len()
    );

    let duplicate = User { username: "eve".into(), email: "ann@example.com".into(), display_name: "Eve".into() };
    match db.insert(&mut duplicate.clone()).await {
        Err(e) => println!("rejected as expected: {e}"),
        Ok(_) => println!("unexpected: a duplicate email was accepted"),
    }

    let deleted = db.delete_many(&keys[..2]).await?;
    let left = db.query::<Post>().count().await?;
    println!("deleted {deleted} posts by key; {left} left");

    pages_transactions_and_cascades(&db).await?;

    let report = db.integrity_check().await?;
    println!(
        "integrity check: {} records, {} index entries, {} problems",
        report.records,
        report.entries,
        report.problems.len()
    );

    println!("the post as JSON, its author as a key: {}", nonrel_runtime::json::to_json(&post)?);
    let dump = path.with_extension("jsonl");
    let written = db.dump_to_file(&dump).await?;
    println!("dumped {written} records to {}", dump.display());
    let copy = Database::in_memory()?;
    let loaded = copy.load_from_file(&dump, nonrel_runtime::LoadOptions::default()).await?;
    println!(
        "loaded {} records into a fresh in-memory database: {} posts",
        loaded.loaded,
        copy.query::<Post>().count().await?
    );
    Ok(())
}

/// Pages through posts with cursors, bumps a post's views and adds a comment in one
/// transaction, and deletes a user with their posts.
async fn pages_transactions_and_cascades(db: &Database<nonrel_runtime::Redb>) -> nonrel_runtime::Result<()> {
    db.save(&mut User { username: "dee".into(), email: "dee@example.com".into(), display_name: "Dee".into() }).await?;
    let mut more: Vec<Post> = (0..45)
        .map(|i| Post {
            id: None,
            title: format!("Weekly notes #{i}"),
            author: Ref::new(Key::from("dee")),
            tags: vec!["notes".into()],
            comments: vec![],
            views: (i * 37) % 50,
            published_at: Utc::now(),
        })
        .collect();
    db.save_many(&mut more).await?;

    // Most viewed first; ties broken by key. A cursor is URL-safe: /posts?after=<cursor>.
    let by_views = || db.query::<Post>().filter(Post::tags().contains("notes")).order_by(Post::views().desc());
    let mut page = by_views().page(20).await?;
    let mut number = 1;
    loop {
        let views: Vec<u64> = page.items.iter().map(|p| p.views).collect();
        println!("page {number}: {} posts, views {:?} .. {:?}", page.items.len(), views.first(), views.last());
        let Some(next) = page.next.clone() else { break };
        println!("  next page: /posts?after={next}");
        page = by_views().page(20).after(next).await?;
        number += 1;
    }
    if let Some(prev) = page.prev {
        let back = by_views().page(20).before(prev).await?;
        println!("back one page: {} posts, starting at {} views", back.items.len(), back.items[0].views);
    }
    match by_views().page(20).after("not-a-cursor").await {
        Err(e) => println!("a tampered cursor is rejected: {e}"),
        Ok(_) => println!("unexpected: a bad cursor was accepted"),
    }

    // Read, modify and write two records as one: retried if another writer gets in between.
    let target = more[0].id.clone().expect("saved");
    let target = &target;
    let views = db
        .transaction(move |tx| async move {
            let mut post = tx.get(target).await?.expect("the post exists");
            let author = tx.get(post.author.key()).await?.expect("the author exists");
            post.views += 1;
            post.comments.push(comment(&author.username, "Thanks, everyone", 0));
            tx.save(&mut post).await?;
            Ok(post.views)
        })
        .tries(5)
        .await?;
    println!("in one transaction: {views} views and a new comment on \"{}\"", more[0].title);

    let before = db.query::<Post>().count().await?;
    db.delete::<User>("dee").await?;
    let after = db.query::<Post>().count().await?;
    println!("deleted user dee and, by the declared cascade, {} of their posts", before - after);
    Ok(())
}
