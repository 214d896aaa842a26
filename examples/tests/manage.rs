//! The management command wired into the blog example (`blog manage ...`): every
//! subcommand run as a user runs it, its output and exit code checked.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn blog(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_blog"))
        .args(args)
        .env_remove("NONREL_DB")
        .output()
        .expect("the blog example runs");
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 output"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 errors"),
    }
}

fn manage(db: &Path, args: &[&str]) -> Run {
    let db = db.to_str().expect("a UTF-8 path");
    let mut all = vec!["manage", "--db", db];
    all.extend_from_slice(args);
    blog(&all)
}

/// Runs a subcommand that must succeed; returns its standard output.
fn ok(db: &Path, args: &[&str]) -> String {
    let run = manage(db, args);
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run.stdout
}

/// A database the blog example filled.
fn blog_database(dir: &Path) -> PathBuf {
    let db = dir.join("blog.db");
    let run = blog(&[db.to_str().unwrap()]);
    assert_eq!(run.code, 0, "the blog example: {}{}", run.stdout, run.stderr);
    db
}

fn dump_lines(text: &str, collection: &str) -> usize {
    text.lines().filter(|l| l.starts_with(&format!("{{\"collection\":\"{collection}\","))).count()
}

#[test]
fn subcommands_on_the_blog_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = blog_database(dir.path());

    let models = ok(&db, &["models"]);
    assert!(models.contains("Post (collection \"posts\", key id: Auto)"), "{models}");
    assert!(models.contains("  field title: String"), "{models}");
    assert!(models.contains("  index title\n") && models.contains("  index email unique"), "{models}");

    let check = ok(&db, &["check"]);
    assert!(check.trim_end().ends_with(": 0 problem(s)"), "{check}");

    // The dump on standard output is the oracle for counts and copies.
    let dump = manage(&db, &["dump"]);
    assert_eq!(dump.code, 0, "{}", dump.stderr);
    let (posts, users) = (dump_lines(&dump.stdout, "posts"), dump_lines(&dump.stdout, "users"));
    assert!(posts > 0 && users > 0, "{}", dump.stdout);
    // Not on a terminal: no progress bar, the summary alone.
    assert_eq!(dump.stderr, format!("dumped {} records\n", dump.stdout.lines().count()));
    assert_eq!(ok(&db, &["count", "Post"]).trim(), posts.to_string());
    assert_eq!(ok(&db, &["count", "users"]).trim(), users.to_string(), "a model named by its collection");
    let tagged = dump.stdout.lines().filter(|l| l.contains("\"tags\":[") && l.contains("\"rust\"")).count();
    assert_eq!(ok(&db, &["count", "Post", "tags__contains=rust"]).trim(), tagged.to_string());
    let viewed = ok(&db, &["count", "Post", "views__gte=1000"]);
    let not_viewed = ok(&db, &["count", "Post", "views__lt=1000"]);
    let sum: usize = viewed.trim().parse::<usize>().unwrap() + not_viewed.trim().parse::<usize>().unwrap();
    assert_eq!(sum, posts, "gte and lt of the same value split the records");

    // dump to a file, load into a new database, copy to another: the same records exactly.
    let file = dir.path().join("blog.jsonl");
    let out = ok(&db, &["dump", "--out", file.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("dumped {} records to {}", dump.stdout.lines().count(), file.display()));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), dump.stdout);
    let loaded = dir.path().join("loaded.db");
    let out = ok(&loaded, &["load", file.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("loaded {} records, skipped 0 line(s)", dump.stdout.lines().count()));
    assert_eq!(manage(&loaded, &["dump"]).stdout, dump.stdout);
    let copied = dir.path().join("copied.db");
    let out = ok(&db, &["copy", "--to", copied.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("copied {} records to {}", dump.stdout.lines().count(), copied.display()));
    assert_eq!(manage(&copied, &["dump"]).stdout, dump.stdout);
    assert!(ok(&copied, &["check"]).contains(": 0 problem(s)"));

    assert!(ok(&db, &["sync-indexes"]).contains("declared index(es) in place"));
    assert!(ok(&db, &["rebuild"]).starts_with("rebuilt: "));
    assert!(ok(&db, &["check"]).contains(": 0 problem(s)"));
    assert_eq!(manage(&db, &["dump"]).stdout, dump.stdout, "a rebuild changes no record");
}

#[test]
fn explain_names_the_index_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = blog_database(dir.path());
    assert_eq!(
        ok(&db, &["explain", "Post", "title=Notes on key-value stores"]).trim(),
        "Post: the index on title, 1 range(s); 1 entry(ies) read"
    );
    assert_eq!(
        ok(&db, &["explain", "Post", "title__in=[\"a\",\"b\"]"]).trim(),
        "Post: the index on title, 2 range(s); 0 entry(ies) read"
    );
    // The example leaves one post.
    assert_eq!(
        ok(&db, &["explain", "Post", "views__gt=10", "--order", "-views", "--limit", "5"]).trim(),
        "Post: the index on views, 1 range(s), in the query's order; 1 entry(ies) read"
    );
    let scan = ok(&db, &["explain", "Post", "comments.text=hi"]);
    let posts = ok(&db, &["count", "Post"]);
    assert_eq!(scan.trim(), format!("Post: a scan of every record; {} record(s) read", posts.trim()));
}

#[test]
fn exit_codes_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let db = blog_database(dir.path());

    // 2: the command line is wrong; the message names the model, field or lookup.
    let run = manage(&db, &["count", "Nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("\"Nope\"") && run.stderr.contains("Post"), "{}", run.stderr);
    let run = manage(&db, &["count", "Post", "nofield=1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Post has no field \"nofield\""), "{}", run.stderr);
    let run = manage(&db, &["explain", "Post", "title__like=x"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Post.title: no lookup is named \"like\""), "{}", run.stderr);
    assert_eq!(manage(&db, &["frobnicate"]).code, 2);
    assert_eq!(blog(&["manage", "check"]).code, 2, "no database given");
    assert_eq!(manage(&db, &["--help"]).code, 0);

    // 4: the database cannot be opened.
    let run = manage(&dir.path().join("missing.db"), &["check"]);
    assert_eq!(run.code, 4, "{}", run.stderr);

    // 3: a bad dump line refuses the whole load; 1: skipped with --skip-bad-lines.
    let file = dir.path().join("blog.jsonl");
    ok(&db, &["dump", "--out", file.to_str().unwrap()]);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"collection\":\"posts\",\"model\":\"Post\",\"_id\":\"not a key\",\"record\":{}}\n");
    std::fs::write(&file, &text).unwrap();
    let fresh = dir.path().join("fresh.db");
    let run = manage(&fresh, &["load", file.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("line"), "{}", run.stderr);
    assert_eq!(ok(&fresh, &["count", "Post"]).trim(), "0", "nothing loaded");
    let run = manage(&fresh, &["load", "--skip-bad-lines", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let lines = text.lines().count();
    assert!(run.stdout.contains(&format!("skipped line {lines}: ")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("loaded {} records, skipped 1 line(s)", lines - 1)), "{}", run.stdout);

    // On MongoDB, explain tells the one find the server runs and the command sent.
    let uri = std::env::var("MONGODB_URI")
        .expect("MONGODB_URI names the MongoDB server the tests use (scripts/test starts one)");
    let mongo = format!("{}/nonrel_manage_{}", uri.trim_end_matches('/'), std::process::id());
    let run = blog(&["manage", "--db", &mongo, "explain", "Post", "title=Hello"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("Post: one find on MongoDB"), "{}", run.stdout);
    assert!(run.stdout.contains("command: ") && run.stdout.contains("Hello"), "{}", run.stdout);
}

#[test]
fn copy_to_mongodb_and_back() {
    let uri = std::env::var("MONGODB_URI")
        .expect("MONGODB_URI names the MongoDB server the tests use (scripts/test starts one)");
    let (base, query) = uri.split_once('?').map_or((uri.as_str(), ""), |(b, q)| (b, q));
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    let mongo = format!("{}/nonrel_manage_copy_{}{query}", base.trim_end_matches('/'), std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let db = blog_database(dir.path());
    let dump = manage(&db, &["dump"]).stdout;
    let records = dump.lines().count();
    let out = ok(&db, &["copy", "--to", &mongo]);
    assert_eq!(out.trim(), format!("copied {records} records to {mongo}"));
    let run = blog(&["manage", "--db", &mongo, "count", "Post"]);
    assert_eq!(run.stdout.trim(), dump_lines(&dump, "posts").to_string(), "{}", run.stderr);
    let back = dir.path().join("back.db");
    let run = blog(&["manage", "--db", &mongo, "copy", "--to", back.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(manage(&back, &["dump"]).stdout, dump, "the same records exactly, after a round trip through MongoDB");
}
