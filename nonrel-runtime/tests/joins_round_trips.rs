//! Conditions across a `Ref` inside ORs and NOTs cost one query of the related model per
//! distinct condition, then the query itself, on the embedded backend; and the commands an
//! annotation's explanation counts are those its query sends. Counted from the store
//! commands' spans (`nonrel.round_trips`), with the subscriber in `spans/`.

mod spans;

use nonrel_runtime::annotate::{self, AnnotationRun};
use nonrel_runtime::{Database, Key, Model, Ref};
use spans::Collect;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_jo_users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index)]
    name: String,
    #[field(index)]
    age: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_jo_memos", join_in_memory(author))]
struct Memo {
    #[field(key)]
    id: Option<Key<Memo>>,
    #[field(index)]
    text: String,
    #[field(index)]
    author: Option<Ref<User>>,
}

#[test]
fn joins_inside_ors_cost_one_query_per_distinct_condition() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        let mut users =
            vec![User { id: None, name: "ann".into(), age: 30 }, User { id: None, name: "bob".into(), age: 50 }];
        let keys = db.save_many(&mut users).await.unwrap();
        let mut memos: Vec<Memo> = (0..12)
            .map(|i| Memo {
                id: None,
                text: format!("m{i:02}"),
                author: (i % 3 < 2).then(|| keys[i % 3].clone().into()),
            })
            .collect();
        db.save_many(&mut memos).await.unwrap();
        let name = |n: &str| Memo::author().join(User::name()).eq(n).require();
        let old = || Memo::author().join(User::age()).gte(40).require();
        collect.queries();

        // Two conditions across the `Ref`, one of them twice: two queries of users, then the
        // memos, one read per branch of the OR on the embedded backend (three).
        let q = db.query::<Memo>().filter((name("ann") & Memo::text().lt("m06")) | old() | !(name("ann") | old()));
        let found = q.all().await.unwrap();
        // ann's memos below m06 (m00, m03), bob's (m01, m04, m07, m10), those with no author
        // (m02, m05, m08, m11).
        assert_eq!(found.len(), 10);
        let users = ("rt_jo_users".to_owned(), 1);
        assert_eq!(collect.queries(), [users.clone(), users.clone(), ("rt_jo_memos".to_owned(), 3)]);

        // A condition no user matches: its query, then the memos through the other branch
        // alone (one read: the OR is left with one branch).
        let q = db.query::<Memo>().filter(name("nobody") | Memo::text().eq("m00"));
        assert_eq!(q.all().await.unwrap().len(), 1);
        assert_eq!(collect.queries(), [users, ("rt_jo_memos".to_owned(), 1)]);
    });
}

#[test]
fn related_selections_on_the_embedded_backend_are_one_command() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        let mut users = vec![User { id: None, name: "ann".into(), age: 30 }];
        let keys = db.save_many(&mut users).await.unwrap();
        let mut memos: Vec<Memo> = (0..4)
            .map(|i| Memo { id: None, text: format!("m{i:02}"), author: (i % 2 == 0).then(|| keys[0].clone().into()) })
            .collect();
        db.save_many(&mut memos).await.unwrap();
        collect.queries();
        // An index range: the selections are read in the query's read transaction.
        let rows = db.query::<Memo>().filter(Memo::text().lt("m03")).select_related(Memo::author()).rows().await;
        let rows = rows.unwrap();
        let names: Vec<Option<String>> =
            rows.iter().map(|r| r.related(Memo::author()).unwrap().map(|u| u.name)).collect();
        assert_eq!(names, [Some("ann".to_owned()), None, Some("ann".to_owned())]);
        assert_eq!(collect.queries(), [("rt_jo_memos".to_owned(), 1)]);
        // A scan, which the backend declines to read with its selections: still one command.
        let rows = db.query::<Memo>().select_related(Memo::author()).rows().await.unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(collect.queries(), [("rt_jo_memos".to_owned(), 1)]);
    });
}

#[test]
fn an_annotations_explained_commands_are_those_it_sends() {
    #[derive(Model, Debug, Clone, PartialEq)]
    #[model(collection = "rt_jo_notes")]
    struct Note {
        #[field(key)]
        id: Option<Key<Note>>,
        #[field(index)]
        memo: Ref<Memo>,
    }
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        let mut memos: Vec<Memo> = (0..10).map(|i| Memo { id: None, text: format!("m{i}"), author: None }).collect();
        let keys = db.save_many(&mut memos).await.unwrap();
        let mut notes: Vec<Note> = keys.iter().map(|k| Note { id: None, memo: k.clone().into() }).collect();
        db.save_many(&mut notes).await.unwrap();
        for max_in in [3, 10, 100] {
            let split = db.clone().with_max_in_values(max_in);
            let q = || split.query::<Memo>().annotate("notes", annotate::count_of(Note::memo()));
            let AnnotationRun::CountByKey { queries, .. } = q().explain().unwrap().annotations[0].runs.clone() else {
                panic!("count_of is counted by key")
            };
            collect.queries();
            q().rows().await.unwrap();
            let sent = collect.queries();
            let trips: u64 = sent.iter().filter(|(c, _)| c == "rt_jo_notes").map(|(_, n)| n).sum();
            assert_eq!(trips, queries as u64, "at most {max_in} keys a command: {sent:?}");
        }
    });
}
