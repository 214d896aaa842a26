//! The same requests written by hand with `reqwest` and `serde_json`: the index is created
//! with the mapping nonrel made for its own (read back from the server), records are serde
//! structs serialized to the same `_source`, and each operation sends what nonrel sends.

use crate::Item;
use nonrel_runtime::Model;
use nonrel_runtime::{Key, KeyValue};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt::Write as _;

/// The `_source` of a record: `_key` (the key's sortable form, the sort tie-breaker), then the
/// fields in the model's order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HandItem {
    pub _key: String,
    pub group: i64,
    pub n: i64,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub score: f64,
    pub tags: Vec<String>,
}

impl HandItem {
    pub fn from_item(it: &Item) -> HandItem {
        HandItem {
            _key: sort_key(it.id.as_ref().expect("saved").value()),
            group: it.group,
            n: it.n,
            name: it.name.clone(),
            email: it.email.clone(),
            active: it.active,
            score: it.score,
            tags: it.tags.clone(),
        }
    }

    pub fn into_item(self, key: Key<Item>) -> Item {
        Item {
            id: Some(key),
            group: self.group,
            n: self.n,
            name: self.name,
            email: self.email,
            active: self.active,
            score: self.score,
            tags: self.tags,
        }
    }
}

/// The key's `_id`.
pub fn id(key: &Key<Item>) -> String {
    key.to_url_safe()
}

/// The key's sortable form as nonrel stores it in `_key`.
fn sort_key(key: &KeyValue) -> String {
    key.to_storage().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub struct Hand {
    http: reqwest::Client,
    base: String,
    /// The hand-written side's index.
    pub index: String,
    /// nonrel's index of the same records.
    pub nonrel_index: String,
    /// The version of each record this client read or wrote last (`_seq_no`,
    /// `_primary_term`), so a save writes at once at that version, as nonrel does.
    versions: std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>,
}

#[derive(Deserialize)]
struct Mget {
    docs: Vec<MgetDoc>,
}

#[derive(Deserialize)]
struct MgetDoc {
    #[serde(default)]
    found: bool,
    _source: Option<HandItem>,
    #[serde(default)]
    _seq_no: i64,
    #[serde(default)]
    _primary_term: i64,
}

#[derive(Deserialize)]
struct Search {
    hits: Hits,
}

#[derive(Deserialize)]
struct Hits {
    hits: Vec<Hit>,
}

#[derive(Deserialize)]
struct Hit {
    _id: String,
    _source: HandItem,
}

#[derive(Deserialize)]
struct Bulk {
    errors: bool,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    _id: String,
    #[serde(default)]
    _seq_no: i64,
    #[serde(default)]
    _primary_term: i64,
}

impl Hand {
    /// Creates `index` with the settings and mapping nonrel gave `nonrel_index`.
    pub async fn new(url: &str, nonrel_index: &str, index: &str) -> Hand {
        let http = reqwest::Client::new();
        let base = url.trim_end_matches('/').to_string();
        let mapping: serde_json::Value = http
            .get(format!("{base}/{nonrel_index}/_mapping"))
            .send()
            .await
            .expect("read nonrel's mapping")
            .json()
            .await
            .expect("mapping JSON");
        let body = json!({
            "settings": { "analysis": { "normalizer": { "nonrel_lower": { "type": "custom", "filter": ["lowercase"] } } } },
            "mappings": mapping[nonrel_index]["mappings"],
        });
        let reply = http.put(format!("{base}/{index}")).json(&body).send().await.expect("create the index");
        assert!(reply.status().is_success(), "creating {index}: {}", reply.text().await.unwrap_or_default());
        Hand {
            http,
            base,
            index: index.to_string(),
            nonrel_index: nonrel_index.to_string(),
            versions: Default::default(),
        }
    }

    /// Writes the records with nonrel's keys (the load, unmeasured).
    pub async fn load(&self, items: &[Item]) {
        for chunk in items.chunks(500) {
            let mut body = String::new();
            for it in chunk {
                let action = json!({ "index": { "_index": self.index, "_id": id(it.id.as_ref().expect("saved")) } });
                body.push_str(&action.to_string());
                body.push('\n');
                body.push_str(&serde_json::to_string(&HandItem::from_item(it)).expect("serialize"));
                body.push('\n');
            }
            self.bulk(body).await;
        }
    }

    /// The `_source` of one record of `index`, as JSON.
    pub async fn source(&self, index: &str, key: &Key<Item>) -> serde_json::Value {
        let url = format!("{}/{index}/_doc/{}", self.base, id(key));
        let v: serde_json::Value = self.http.get(url).send().await.expect("get").json().await.expect("JSON");
        v["_source"].clone()
    }

    /// Reads records by id in one `_mget`, with their versions.
    async fn mget(&self, ids: &[&str]) -> Vec<MgetDoc> {
        let url = format!("{}/{}/_mget", self.base, self.index);
        let reply = self.http.post(url).json(&json!({ "ids": ids })).send().await.expect("_mget");
        let body = reply.bytes().await.expect("_mget answer");
        serde_json::from_slice::<Mget>(&body).expect("_mget JSON").docs
    }

    /// One record by id.
    pub async fn get(&self, id: &str) -> Option<HandItem> {
        let doc = self.mget(&[id]).await.into_iter().next()?;
        if doc.found {
            doc._source
        } else {
            None
        }
    }

    async fn bulk(&self, body: String) {
        let url = format!("{}/_bulk?refresh=wait_for", self.base);
        let reply =
            self.http.post(url).header("content-type", "application/x-ndjson").body(body).send().await.expect("_bulk");
        let body = reply.bytes().await.expect("_bulk answer");
        let bulk = serde_json::from_slice::<Bulk>(&body).expect("_bulk JSON");
        assert!(!bulk.errors, "a write failed");
        let mut versions = self.versions.lock().expect("versions");
        for item in bulk.items.into_iter().flat_map(|i| i.into_values()) {
            versions.insert(item._id, (item._seq_no, item._primary_term));
        }
    }

    /// Saves records as nonrel does: one `_bulk` writing each at the version this client
    /// knows (read first with one `_mget` when it knows none).
    pub async fn save(&self, items: &[(String, &HandItem)]) {
        let known: Option<Vec<(i64, i64)>> = {
            let versions = self.versions.lock().expect("versions");
            items.iter().map(|(k, _)| versions.get(k).copied()).collect()
        };
        let read = match known {
            Some(known) => known,
            None => {
                let ids: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
                self.mget(&ids).await.into_iter().map(|d| (d._seq_no, d._primary_term)).collect()
            }
        };
        let mut body = String::with_capacity(items.len() * 300);
        for ((k, it), (seq_no, primary_term)) in items.iter().zip(read) {
            let _ = writeln!(
                body,
                "{{\"index\":{{\"_index\":\"{}\",\"_id\":\"{k}\",\"if_seq_no\":{seq_no},\"if_primary_term\":{primary_term}}}}}",
                self.index
            );
            serde_json::to_writer(string_writer(&mut body), it).expect("serialize");
            body.push('\n');
        }
        self.bulk(body).await;
    }

    /// The first 10 records of `group` by `n` (then key), in one `_search`.
    pub async fn page(&self, group: i64) -> Vec<(Key<Item>, HandItem)> {
        let body = json!({
            "query": { "bool": { "filter": [{ "term": { "group": group } }], "must_not": [] } },
            "sort": [{ "n": { "order": "asc" } }, { "_key": { "order": "asc" } }],
            "seq_no_primary_term": true,
            "track_total_hits": false,
            "size": 10,
        });
        let url = format!("{}/{}/_search", self.base, self.index);
        let reply = self.http.post(url).json(&body).send().await.expect("_search");
        let bytes = reply.bytes().await.expect("_search answer");
        let parsed: Search = serde_json::from_slice(&bytes).expect("_search JSON");
        parsed
            .hits
            .hits
            .into_iter()
            .map(|h| {
                (Key::from_value(KeyValue::parse(<Item as Model>::DESC.key.kind, &h._id).expect("a key")), h._source)
            })
            .collect()
    }

    pub async fn drop_indexes(&self) {
        for index in [&self.index, &self.nonrel_index] {
            let _ = self.http.delete(format!("{}/{index}", self.base)).send().await;
        }
    }
}

/// A `String` as an `io::Write` (JSON is UTF-8).
fn string_writer(s: &mut String) -> impl std::io::Write + '_ {
    struct W<'a>(&'a mut String);
    impl std::io::Write for W<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push_str(std::str::from_utf8(buf).map_err(std::io::Error::other)?);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(s)
}
