//! Bad input gets the right `Status` and changes nothing: malformed bodies, the wrong kind for
//! the URL, invalid names, huge bodies, unknown fields under Strict, bad selectors and bogus
//! resourceVersions. The server keeps serving throughout.

use berth_testkit::BerthServer;
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn status(
    server: &BerthServer,
    method: &str,
    path: &str,
    ct: &str,
    body: Option<&[u8]>,
) -> (u16, Value) {
    let (code, text) = server.curl(method, path, ct, body).http();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (code, v)
}

fn expect(
    server: &BerthServer,
    method: &str,
    path: &str,
    ct: &str,
    body: &[u8],
    code: u16,
    reason: &str,
) -> Value {
    let (got, v) = status(server, method, path, ct, Some(body));
    assert_eq!(got, code, "{method} {path}: {v}");
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["reason"], reason, "{v}");
    assert_eq!(v["code"], code, "{v}");
    v
}

#[test]
fn bad_requests_get_statuses_and_change_nothing() {
    let server =
        BerthServer::start(BERTH, &["--disable-controller-manager"]).expect("server starts");
    let good =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep"},"data":{"a":"1"}}"#;
    let (code, created) = status(&server, "POST", CMS, "application/json", Some(good));
    assert_eq!(code, 201, "{created}");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();

    expect(
        &server,
        "POST",
        CMS,
        "application/json",
        b"{\"apiVersion\":",
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        CMS,
        "application/yaml",
        b"a: [1, 2\n",
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        CMS,
        "application/vnd.kubernetes.protobuf",
        b"k8s\x00\x0a\x01",
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        CMS,
        "text/plain",
        b"hello",
        415,
        "UnsupportedMediaType",
    );
    expect(
        &server,
        "POST",
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#,
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        CMS,
        "application/json",
        br#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
        400,
        "BadRequest",
    );
    let invalid = expect(
        &server,
        "POST",
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Name"}}"#,
        422,
        "Invalid",
    );
    assert_eq!(
        invalid["details"]["causes"][0]["field"], "metadata.name",
        "{invalid}"
    );
    expect(
        &server,
        "POST",
        &format!("{CMS}?fieldValidation=Strict"),
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1}"#,
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        &format!("{CMS}?fieldValidation=Strict"),
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","name":"y"}}"#,
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":5}}"#,
        400,
        "BadRequest",
    );
    expect(
        &server,
        "POST",
        CMS,
        "application/json",
        good,
        409,
        "AlreadyExists",
    );
    let huge = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"huge"}},"data":{{"a":"{}"}}}}"#,
        "x".repeat(4 * 1024 * 1024)
    );
    // Over HTTP/2 (curl's default) the server must drain the body before answering, or the
    // stream is reset and the client never sees the Status.
    let (code, v) = server
        .curl_with(
            &["--http1.1"],
            "POST",
            CMS,
            "application/json",
            Some(huge.as_bytes()),
        )
        .http();
    assert_eq!(code, 413, "{v}");
    assert!(v.contains("RequestEntityTooLarge"), "{v}");
    let (code, v) = status(
        &server,
        "GET",
        &format!("{CMS}?labelSelector=a%20in%20(b"),
        "",
        None,
    );
    assert_eq!(
        (code, v["reason"].as_str()),
        (400, Some("BadRequest")),
        "{v}"
    );
    let (code, v) = status(
        &server,
        "GET",
        &format!("{CMS}?fieldSelector=spec.bogus%3Dx"),
        "",
        None,
    );
    assert_eq!(code, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("field label not supported"),
        "{v}"
    );
    let (code, v) = status(
        &server,
        "GET",
        &format!("{CMS}?resourceVersion=abc"),
        "",
        None,
    );
    assert_eq!(code, 400, "{v}");
    let (code, v) = status(
        &server,
        "GET",
        &format!("{CMS}?resourceVersion=999999999&resourceVersionMatch=NotOlderThan"),
        "",
        None,
    );
    assert_eq!(code, 504, "{v}");
    let stale = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"keep","resourceVersion":"{}"}},"data":{{"a":"2"}}}}"#,
        rv.parse::<i64>().unwrap_or(1) - 1
    );
    expect(
        &server,
        "PUT",
        &format!("{CMS}/keep"),
        "application/json",
        stale.as_bytes(),
        409,
        "Conflict",
    );
    expect(
        &server,
        "PUT",
        &format!("{CMS}/other"),
        "application/json",
        good,
        400,
        "BadRequest",
    );
    expect(
        &server,
        "PATCH",
        &format!("{CMS}/keep"),
        "application/json-patch+json",
        br#"{"op":"add"}"#,
        400,
        "BadRequest",
    );
    expect(
        &server,
        "PATCH",
        &format!("{CMS}/keep"),
        "application/json-patch+json",
        br#"[{"op":"test","path":"/data/a","value":"9"}]"#,
        422,
        "Invalid",
    );
    expect(
        &server,
        "PATCH",
        &format!("{CMS}/keep"),
        "application/json",
        b"{}",
        415,
        "UnsupportedMediaType",
    );
    expect(
        &server,
        "GET",
        "/api/v1/namespaces/default/configmaps/nope",
        "",
        b"",
        404,
        "NotFound",
    );
    expect(
        &server,
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
        404,
        "NotFound",
    );
    expect(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/pods",
        "application/merge-patch+json",
        b"{}",
        405,
        "MethodNotAllowed",
    );

    // Nothing changed, and the server still serves.
    let (code, v) = status(&server, "GET", &format!("{CMS}/keep"), "", None);
    assert_eq!(code, 200);
    assert_eq!(v["metadata"]["resourceVersion"].as_str(), Some(rv.as_str()));
    assert_eq!(v["data"]["a"], "1");
    let (code, list) = status(&server, "GET", CMS, "", None);
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // And without a client certificate: 401.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}{CMS}", server.url()))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}
