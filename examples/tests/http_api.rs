//! The HTTP example answers requests with its models as JSON: the service is started as a
//! user starts it, and spoken to over a socket on the loopback address.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running example; stopped when dropped.
struct Service {
    child: Child,
    address: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_http_api"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the HTTP example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("its first line");
    let address = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    Service { child, address }
}

/// Sends one request (the connection closed after it); returns the status and the body.
fn request(service: &Service, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(&service.address).expect("the service accepts");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        service.address,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{response:?}"));
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, body.to_owned())
}

fn parse(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn models_are_served_as_json() {
    let service = start();
    let (status, body) = request(&service, "GET", "/posts", "");
    assert_eq!(status, 200, "{body}");
    let posts = parse(&body);
    let posts = posts.as_array().expect("a list");
    assert_eq!(posts.len(), 2, "{body}");
    assert_eq!(posts[0]["title"], "Hello");
    assert_eq!(posts[0]["tags"], serde_json::json!(["intro"]));
    let key = posts[0]["id"].as_str().expect("the key as its URL-safe string").to_owned();

    let (status, body) = request(&service, "GET", &format!("/posts/{key}"), "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse(&body), posts[0], "one post reads as it reads in the list");

    // A post sent as JSON is saved and comes back with its key, as it was sent.
    let sent = r#"{"title":"Sent as JSON","tags":["a","b c"],"published_at":"2024-05-01T12:00:00.123Z"}"#;
    let (status, body) = request(&service, "POST", "/posts", sent);
    assert_eq!(status, 200, "{body}");
    let saved = parse(&body);
    let new_key = saved["id"].as_str().expect("a key").to_owned();
    let (_, body) = request(&service, "GET", &format!("/posts/{new_key}"), "");
    let mut expected = parse(sent);
    expected["id"] = serde_json::Value::String(new_key);
    assert_eq!(parse(&body), expected);
    assert_eq!(parse(&request(&service, "GET", "/posts", "").1).as_array().map(Vec::len), Some(3));
}

#[test]
fn bad_requests_are_errors_naming_the_model_and_value() {
    let service = start();
    let (status, body) = request(&service, "GET", "/posts/not-a-key", "");
    assert_eq!(status, 400, "{body}");
    let message = parse(&body)["error"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("Post") && message.contains("not-a-key"), "{message}");
    let (status, body) = request(&service, "GET", "/posts/999999", "");
    assert_eq!(status, 404, "{body}");
    let (status, body) = request(&service, "POST", "/posts", r#"{"title": 5}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(
        &service,
        "POST",
        "/posts",
        r#"{"id":"x","title":"t","tags":[],"published_at":"2024-01-01T00:00:00Z"}"#,
    );
    assert_eq!(status, 400, "a key that is not one of Post's: {body}");
    assert!(body.contains("Post"), "{body}");
}
