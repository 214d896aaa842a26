//! Cases for defects the differential harness found, each pinned on its own.

use super::model::{DiffItem, DiffPart, Draw, Rng, RunsDiffLookups};
use super::Areas;
use crate::{Condition, Database};

fn parts(labels_qty: &[(&str, i64)]) -> Vec<DiffPart> {
    labels_qty.iter().map(|(l, q)| DiffPart { label: (*l).to_owned(), qty: *q }).collect()
}

/// A range on a path through a list is `{$gte: lo, $lte: hi}` as on MongoDB: each bound may
/// hold on a different element, through an index as without one; on a scalar field a range
/// still needs one value within both bounds.
pub async fn list_ranges_match_each_bound_on_any_element<B: RunsDiffLookups>(db: &Database<B>) {
    let mut rng = Rng::new(0);
    let areas = Areas { map_keys: false, ..Areas::from_env() };
    let mut d = Draw { rng: &mut rng, areas: &areas };
    let lists: [&[(&str, i64)]; 5] =
        [&[("a", 0), ("z", 10)], &[("c", 5)], &[("a", 0)], &[("z", 10)], &[("a", 0), ("b", 1), ("y", 20)]];
    let mut items: Vec<DiffItem> = (1..=5).map(|id| d.item(id, None)).collect();
    for ((item, list), n) in items.iter_mut().zip(lists).zip([0, 5, 0, 10, 20]) {
        item.parts = parts(list);
        item.n = n;
        item.n_plain = n;
    }
    db.save_many(&mut items).await.expect("save");
    let ids = |rs: Vec<DiffItem>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let find = |c: Condition<DiffItem>| async { ids(db.query::<DiffItem>().filter(c).all().await.expect("query")) };
    // Indexed (`parts.label`) and unindexed (`parts.qty`) paths through the list.
    assert_eq!(find(DiffItem::parts().label().range("m", "n")).await, [1, 5], "indexed path");
    assert_eq!(find(DiffItem::parts().qty().range(4, 6)).await, [1, 2, 5], "unindexed path");
    assert_eq!(find(DiffItem::parts().label().range("b", "y")).await, [1, 2, 5], "indexed, one element within");
    assert_eq!(find(DiffItem::parts().label().range("{", "{")).await, [] as [i64; 0], "above every element");
    let counted = db.query::<DiffItem>().filter(DiffItem::parts().label().range("m", "n")).count().await.unwrap();
    assert_eq!(counted, 2, "count through the index");
    let first = db.query::<DiffItem>().filter(DiffItem::parts().label().range("m", "n")).first().await.unwrap();
    assert_eq!(first.map(|r| r.id), Some(1), "first through the index");
    let updated = db
        .query::<DiffItem>()
        .filter(DiffItem::parts().label().range("m", "n"))
        .update()
        .set(DiffItem::name(), "hit")
        .await
        .expect("update");
    assert_eq!(updated.matched, 2, "an update reads the same records");
    // A scalar field: one value must be within both bounds.
    assert_eq!(find(DiffItem::n().range(4, 6)).await, [2], "indexed scalar");
    assert_eq!(find(DiffItem::n_plain().range(4, 6)).await, [2], "unindexed scalar");
    assert_eq!(find(DiffItem::n().range(6, 4)).await, [] as [i64; 0], "an empty range");
}
