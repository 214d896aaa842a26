//! An HTTP service returning models as JSON: a model derives serde's traits beside `Model`
//! (feature `serde` of nonrel-runtime), on hyper's HTTP/1 server.
//!
//! Run it with `cargo run -p examples --bin http_api` (optionally pass `127.0.0.1:8080`); it
//! prints the address it listens on, then serves:
//!
//! - `GET /posts`: every post, as a JSON list;
//! - `GET /posts/<key>`: one post (its key is URL-safe as it is), or 404;
//! - `POST /posts` with a post as JSON (without `id`): saves it, answers with it and its key.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use nonrel_runtime::{Database, Key, Model, Redb, Utc};
use serde::{Deserialize, Serialize};

/// A post, stored by nonrel and sent as JSON by serde: the key is its URL-safe string, the
/// date RFC 3339 text.
#[derive(Model, Serialize, Deserialize, Debug, Clone)]
#[model(collection = "posts")]
struct Post {
    #[field(key)]
    #[serde(default)]
    id: Option<Key<Post>>,
    #[field(index)]
    title: String,
    tags: Vec<String>,
    published_at: nonrel_runtime::DateTime<Utc>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

/// An error as `{"error": "..."}`.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Reply {
    reply(status, serde_json::json!({ "error": message.to_string() }).to_string())
}

fn json<T: Serialize>(value: &T) -> Reply {
    match serde_json::to_string(value) {
        Ok(body) => reply(StatusCode::OK, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn handle(db: Database<Redb>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    match (request.method().clone(), path.strip_prefix("/posts")) {
        (Method::GET, Some("" | "/")) => match db.query::<Post>().all().await {
            Ok(posts) => json(&posts),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        (Method::GET, Some(key)) if key.starts_with('/') => {
            // A malformed key is the client's error; the message names the model and value.
            let key: Key<Post> = match key[1..].parse() {
                Ok(key) => key,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            match db.get(&key).await {
                Ok(Some(post)) => json(&post),
                Ok(None) => error(StatusCode::NOT_FOUND, format!("no post has the key {key}")),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
            }
        }
        (Method::POST, Some("" | "/")) => create(db, request).await,
        _ => error(StatusCode::NOT_FOUND, format!("no route for {path}")),
    }
}

async fn create(db: Database<Redb>, request: Request<Incoming>) -> Reply {
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let mut post: Post = match serde_json::from_slice(&body) {
        Ok(post) => post,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    post.id = None;
    match db.save(&mut post).await {
        Ok(_) => json(&post),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let db = Database::in_memory()?;
    for (title, tags) in [("Hello", vec!["intro"]), ("Keys in URLs", vec!["rust", "web"])] {
        let tags = tags.into_iter().map(String::from).collect();
        db.save(&mut Post { id: None, title: title.into(), tags, published_at: Utc::now() }).await?;
    }
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let db = db.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let db = db.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(db, request).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}
