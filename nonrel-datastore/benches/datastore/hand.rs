//! The hand-written baseline: what an application would write against the Datastore v1 REST
//! API with the same client crates (hyper's HTTP/1.1 connection, serde_json), storing the
//! same entities as nonrel (the same kind, properties, indexed and unindexed values and
//! key ids), decoding answers straight into its struct.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value as Json};

use crate::model::{Rec, KIND};

/// A record as the application holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HandRec {
    pub id: i64,
    pub group: String,
    pub n: i64,
    pub title: String,
    pub tags: Vec<String>,
}

impl HandRec {
    pub fn of(r: &Rec, id: i64) -> HandRec {
        HandRec { id, group: r.group.clone(), n: r.n, title: r.title.clone(), tags: r.tags.clone() }
    }

    fn entity(&self) -> Json {
        let tags: Vec<Json> = self.tags.iter().map(|t| json!({"stringValue": t, "excludeFromIndexes": true})).collect();
        json!({
            "key": {"path": [{"kind": KIND, "id": self.id.to_string()}]},
            "properties": {
                "group": {"stringValue": self.group},
                "n": {"integerValue": self.n.to_string(), "excludeFromIndexes": true},
                "title": {"stringValue": self.title, "excludeFromIndexes": true},
                "tags": {"arrayValue": {"values": tags}},
            }
        })
    }

    fn from_entity(e: &Json) -> Option<HandRec> {
        let id = e["key"]["path"][0]["id"].as_str()?.parse().ok()?;
        let p: &Map<String, Json> = e["properties"].as_object()?;
        let tags = p["tags"]["arrayValue"]["values"]
            .as_array()
            .map(|vs| vs.iter().filter_map(|v| v["stringValue"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        Some(HandRec {
            id,
            group: p["group"]["stringValue"].as_str()?.to_string(),
            n: p["n"]["integerValue"].as_str()?.parse().ok()?,
            title: p["title"]["stringValue"].as_str()?.to_string(),
            tags,
        })
    }
}

/// One keep-alive connection to the emulator, for one project.
pub struct Hand {
    host: String,
    prefix: String,
    send: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl Hand {
    pub fn new(host: &str, project: &str) -> Hand {
        Hand { host: host.to_string(), prefix: format!("/v1/projects/{project}:"), send: tokio::sync::Mutex::new(None) }
    }

    async fn call(&self, method: &str, body: &Json) -> Json {
        let mut guard = self.send.lock().await;
        if guard.as_ref().is_none_or(SendRequest::is_closed) {
            let stream = tokio::net::TcpStream::connect(&self.host).await.expect("connect");
            let _ = stream.set_nodelay(true);
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(conn);
            *guard = Some(send);
        }
        let send = guard.as_mut().expect("a connection");
        send.ready().await.expect("ready");
        let request = hyper::Request::post(format!("{}{method}", self.prefix))
            .header("host", &self.host)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(body).expect("json"))))
            .expect("request");
        let response = send.send_request(request).await.expect("send");
        let ok = response.status().is_success();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let json: Json = serde_json::from_slice(&bytes).expect("json answer");
        assert!(ok, "{method} failed: {json}");
        json
    }

    /// Inserts records in one atomic commit (as nonrel's insert of new records does).
    pub async fn insert(&self, recs: &[HandRec]) {
        let mutations: Vec<Json> = recs.iter().map(|r| json!({"insert": r.entity()})).collect();
        let body = json!({"mode": "TRANSACTIONAL", "mutations": mutations, "singleUseTransaction": {"readWrite": {}}});
        self.call("commit", &body).await;
    }

    pub async fn get(&self, id: i64) -> Option<HandRec> {
        let body = json!({"keys": [{"path": [{"kind": KIND, "id": id.to_string()}]}]});
        let r = self.call("lookup", &body).await;
        r["found"].as_array()?.first().and_then(|f| HandRec::from_entity(&f["entity"]))
    }

    /// Records of one group in key order, at most `limit`, after `after` (an id) when given.
    pub async fn query(&self, group: &str, limit: usize, after: Option<i64>) -> Vec<HandRec> {
        let eq =
            json!({"propertyFilter": {"property": {"name": "group"}, "op": "EQUAL", "value": {"stringValue": group}}});
        let filter = match after {
            None => eq,
            Some(id) => json!({"compositeFilter": {"op": "AND", "filters": [eq, {"propertyFilter": {
                "property": {"name": "__key__"}, "op": "GREATER_THAN",
                "value": {"keyValue": {"path": [{"kind": KIND, "id": id.to_string()}]}}}}]}}),
        };
        let body = json!({"query": {"kind": [{"name": KIND}], "filter": filter, "limit": limit}});
        let r = self.call("runQuery", &body).await;
        r["batch"]["entityResults"]
            .as_array()
            .map(|es| es.iter().filter_map(|e| HandRec::from_entity(&e["entity"])).collect())
            .unwrap_or_default()
    }
}
