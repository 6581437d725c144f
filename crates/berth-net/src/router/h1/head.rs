//! Message heads on the router's HTTP/1.1 path: a client's request head parsed (httparse)
//! and rewritten for the endpoint (origin-form target, hop-by-hop fields left behind,
//! `X-Forwarded-*` added), and the endpoint's response head rewritten for the client.

use std::borrow::Cow;

use http::Method;

use super::body::Framing;

/// The largest message head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields accepted in one head.
const MAX_FIELDS: usize = 100;

/// A head that cannot be forwarded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1 syntax.
    #[error("malformed HTTP/1 message head: {0}")]
    Malformed(httparse::Error),
    /// Larger than [`MAX_HEAD`].
    #[error("message head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// More fields than [`MAX_FIELDS`].
    #[error("more than {MAX_FIELDS} header fields")]
    TooManyFields,
    /// Well formed but not acceptable; says why.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Fields that belong to one connection (RFC 9110 7.6.1), not to the message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Fields of a request that the router writes itself.
const REWRITTEN: [&str; 5] = [
    "content-length",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
];

/// A client's request whose head has been written for the endpoint.
#[derive(Debug)]
pub struct Request {
    /// Bytes of the head in the client's buffer.
    pub len: usize,
    /// The method.
    pub method: Method,
    /// The host asked for: lower case, without port or IPv6 brackets.
    pub host: String,
    /// The path asked for, without the query.
    pub path: String,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client's connection stays open after the response.
    pub keep_alive: bool,
    /// Whether the client speaks HTTP/1.0.
    pub http10: bool,
    /// Whether the client asks to switch protocols (`Connection: upgrade`).
    pub upgrade: bool,
    /// Whether the client waits for `100 Continue` before sending its body.
    pub expect_continue: bool,
}

impl Request {
    /// Whether the request may be sent to an endpoint twice (RFC 9110 9.2.2, no body).
    pub fn repeatable(&self) -> bool {
        matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && self.framing == Framing::Empty
            && !self.upgrade
    }
}

/// Parse the request head at the start of `buf` and write the head the endpoint gets into
/// `out`; `None` while the head is incomplete.
pub fn request(
    buf: &[u8],
    client_ip: &str,
    secure: bool,
    out: &mut Vec<u8>,
) -> Result<Option<Request>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut fields);
    let Some(len) = head_len(parsed.parse(buf), buf.len())? else {
        return Ok(None);
    };
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HeadError::Invalid("incomplete request line"));
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Invalid("invalid method"))?;
    if method == Method::CONNECT {
        return Err(HeadError::Invalid("CONNECT is not served"));
    }
    let (authority, origin) = split_target(target)?;
    let fields = &*parsed.headers;
    let conn = Connection::of(fields)?;
    let mut host_field = None;
    let mut length = None;
    let mut chunked = None;
    let mut upgrade_to = None;
    let mut expect_continue = false;
    for f in fields {
        let name = f.name;
        if name.eq_ignore_ascii_case("host") {
            if host_field.is_some() {
                return Err(HeadError::Invalid("more than one Host field"));
            }
            host_field = Some(text(f.value, "invalid Host field")?);
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = content_length(f.value)?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Invalid("conflicting Content-Length fields"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = Some(ends_chunked(f.value)?);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade_to = Some(f.value);
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = f.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    let http10 = minor == 0;
    let framing = match (chunked, length) {
        (Some(_), Some(_)) => {
            return Err(HeadError::Invalid(
                "both Transfer-Encoding and Content-Length",
            ))
        }
        (Some(false), None) => {
            return Err(HeadError::Invalid(
                "a request's Transfer-Encoding must end in chunked",
            ))
        }
        (Some(true), None) if http10 => {
            return Err(HeadError::Invalid(
                "Transfer-Encoding in an HTTP/1.0 request",
            ))
        }
        (Some(true), None) => Framing::Chunked,
        (None, Some(0) | None) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
    };
    let asked = match (authority, host_field) {
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) if http10 => "",
        (None, None) => return Err(HeadError::Invalid("no Host field")),
    };
    let (host, port) = split_host(asked)?;
    let upgrade_to = upgrade_to.filter(|_| conn.upgrade && !http10);

    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(origin.as_bytes());
    // Without chunked framing, an HTTP/1.0 client's response must end with the connection;
    // asking the endpoint in HTTP/1.0 makes it answer so.
    out.extend_from_slice(if http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    let mut prior_for = Vec::new();
    for f in fields {
        if f.name.eq_ignore_ascii_case("x-forwarded-for") {
            prior_for.push(f.value);
            continue;
        }
        if HOP_BY_HOP
            .iter()
            .chain(&REWRITTEN)
            .any(|n| f.name.eq_ignore_ascii_case(n))
            || conn.names(f.name)
            || (expect_continue && f.name.eq_ignore_ascii_case("expect"))
            || (authority.is_some() && f.name.eq_ignore_ascii_case("host"))
        {
            continue;
        }
        field(out, f.name.as_bytes(), f.value);
    }
    if let Some(a) = authority {
        field(out, b"host", a.as_bytes());
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    for prior in prior_for {
        out.extend_from_slice(prior);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(client_ip.as_bytes());
    out.extend_from_slice(b"\r\n");
    let proto: &[u8] = if secure { b"https" } else { b"http" };
    field(out, b"x-forwarded-proto", proto);
    field(out, b"x-forwarded-host", host.as_bytes());
    let port = port.unwrap_or(if secure { 443 } else { 80 });
    out.extend_from_slice(b"x-forwarded-port: ");
    decimal(out, port.into());
    out.extend_from_slice(b"\r\nx-real-ip: ");
    out.extend_from_slice(client_ip.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(to) = upgrade_to {
        out.extend_from_slice(b"connection: upgrade\r\n");
        field(out, b"upgrade", to);
    }
    match (framing, length) {
        (Framing::Chunked, _) => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        (_, Some(n)) => {
            out.extend_from_slice(b"content-length: ");
            decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");

    let path = origin.split('?').next().unwrap_or_default().to_string();
    Ok(Some(Request {
        len,
        method,
        host,
        path,
        framing,
        // HTTP/1.0 connections end after a response unless the client asks otherwise.
        keep_alive: if http10 { conn.keep_alive } else { !conn.close },
        http10,
        upgrade: upgrade_to.is_some(),
        expect_continue,
    }))
}

/// An endpoint's response whose head has been written for the client.
#[derive(Debug)]
pub struct Response {
    /// Bytes of the head in the endpoint's buffer.
    pub len: usize,
    /// The status code.
    pub status: u16,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the endpoint's connection can carry another request afterwards.
    pub reusable: bool,
    /// Whether the client's connection ends after it.
    pub close: bool,
}

/// Parse the response head at the start of `buf` (from the endpoint answering `req`) and
/// write the head the client gets into `out`; `None` while the head is incomplete.
/// Interim (1xx) responses and a `101` to an upgrade are copied as they are.
pub fn response(
    buf: &[u8],
    req: &Request,
    out: &mut Vec<u8>,
) -> Result<Option<Response>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut parsed = httparse::Response::new(&mut fields);
    let Some(len) = head_len(parsed.parse(buf), buf.len())? else {
        return Ok(None);
    };
    let (Some(status), Some(minor)) = (parsed.code, parsed.version) else {
        return Err(HeadError::Invalid("incomplete status line"));
    };
    out.clear();
    if (100..200).contains(&status) {
        if status == 101 && !req.upgrade {
            return Err(HeadError::Invalid(
                "101 Switching Protocols to a request without Upgrade",
            ));
        }
        // HTTP/1.0 clients know no interim responses.
        if !req.http10 {
            out.extend_from_slice(&buf[..len]);
        }
        return Ok(Some(Response {
            len,
            status,
            framing: Framing::Empty,
            reusable: false,
            close: status == 101,
        }));
    }
    let fields = &*parsed.headers;
    let conn = Connection::of(fields)?;
    let mut length = None;
    let mut chunked = None;
    for f in fields {
        if f.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(f.value)?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Invalid("conflicting Content-Length fields"));
            }
            length = Some(n);
        } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = Some(ends_chunked(f.value)?);
        }
    }
    let bodiless = req.method == Method::HEAD || status == 204 || status == 304;
    let framing = match (chunked, length) {
        _ if bodiless => Framing::Empty,
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::UntilClose,
        (None, Some(0)) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilClose,
    };
    if framing == Framing::Chunked && req.http10 {
        return Err(HeadError::Invalid(
            "a chunked response to an HTTP/1.0 request",
        ));
    }
    // Both framings at once may be a smuggling attempt: the connection is not used again.
    // An HTTP/1.0 request (sent as such) ends its connection, whatever the answer says.
    let reusable = minor == 1
        && !req.http10
        && !conn.close
        && framing != Framing::UntilClose
        && !(chunked.is_some() && length.is_some());
    let close = !req.keep_alive || framing == Framing::UntilClose;

    out.extend_from_slice(b"HTTP/1.1 ");
    decimal(out, status.into());
    out.push(b' ');
    out.extend_from_slice(parsed.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for f in fields {
        let framing_field = f.name.eq_ignore_ascii_case("content-length") && chunked.is_some();
        if framing_field
            || HOP_BY_HOP.iter().any(|n| f.name.eq_ignore_ascii_case(n))
            || conn.names(f.name)
        {
            continue;
        }
        field(out, f.name.as_bytes(), f.value);
    }
    // A HEAD response says how the GET's body would come.
    if framing == Framing::Chunked || (req.method == Method::HEAD && chunked == Some(true)) {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if req.http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(Response {
        len,
        status,
        framing,
        reusable,
        close,
    }))
}

/// The length of a parsed head; `None` while incomplete.
fn head_len(parsed: httparse::Result<usize>, buffered: usize) -> Result<Option<usize>, HeadError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if buffered >= MAX_HEAD => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooManyFields),
        Err(e) => Err(HeadError::Malformed(e)),
    }
}

/// What a message's `Connection` fields say.
#[derive(Default)]
struct Connection<'b> {
    close: bool,
    keep_alive: bool,
    upgrade: bool,
    /// Other fields named, which belong to this connection only.
    named: Vec<&'b str>,
}

impl<'b> Connection<'b> {
    fn of(fields: &[httparse::Header<'b>]) -> Result<Self, HeadError> {
        let mut conn = Connection::default();
        for f in fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("connection"))
        {
            for option in text(f.value, "invalid Connection field")?.split(',') {
                let option = option.trim();
                if option.eq_ignore_ascii_case("close") {
                    conn.close = true;
                } else if option.eq_ignore_ascii_case("upgrade") {
                    conn.upgrade = true;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    conn.keep_alive = true;
                } else if !option.is_empty() {
                    conn.named.push(option);
                }
            }
        }
        Ok(conn)
    }

    fn names(&self, field: &str) -> bool {
        self.named.iter().any(|n| n.eq_ignore_ascii_case(field))
    }
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without the formatting machinery (this runs for every request).
fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // A single decimal digit.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn text<'b>(value: &'b [u8], what: &'static str) -> Result<&'b str, HeadError> {
    std::str::from_utf8(value)
        .map(str::trim)
        .map_err(|_| HeadError::Invalid(what))
}

fn content_length(value: &[u8]) -> Result<u64, HeadError> {
    let v = text(value, "invalid Content-Length")?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::Invalid("invalid Content-Length"));
    }
    v.parse()
        .map_err(|_| HeadError::Invalid("invalid Content-Length"))
}

/// Whether a `Transfer-Encoding` value's last coding is chunked.
fn ends_chunked(value: &[u8]) -> Result<bool, HeadError> {
    let v = text(value, "invalid Transfer-Encoding")?;
    let last = v.rsplit(',').next().unwrap_or_default().trim();
    Ok(last.eq_ignore_ascii_case("chunked"))
}

/// The authority and origin-form path of a request target (RFC 9112 3.2).
fn split_target(target: &str) -> Result<(Option<&str>, Cow<'_, str>), HeadError> {
    if target.starts_with('/') {
        return Ok((None, Cow::Borrowed(target)));
    }
    if target == "*" {
        return Ok((None, Cow::Borrowed(target)));
    }
    let rest = ["http://", "https://"].iter().find_map(|scheme| {
        target
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|s| &target[s.len()..])
    });
    let Some(rest) = rest else {
        return Err(HeadError::Invalid(
            "the request target must be a path or an absolute http(s) URI",
        ));
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, origin) = rest.split_at(end);
    let origin = match origin.as_bytes().first() {
        Some(b'/') => Cow::Borrowed(origin),
        _ => Cow::Owned(format!("/{origin}")),
    };
    Ok((Some(authority), origin))
}

/// Host (lower case, without brackets) and port of a `Host` value.
fn split_host(authority: &str) -> Result<(String, Option<u16>), HeadError> {
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 address without a port has colons but ends in ']'.
        Some((h, p)) if !p.ends_with(']') => {
            let port = p
                .parse()
                .map_err(|_| HeadError::Invalid("invalid port in Host"))?;
            (h, Some(port))
        }
        _ => (authority, None),
    };
    let host = host.trim_matches(['[', ']']);
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase()
    } else {
        host.to_string()
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "10.42.0.9";

    fn req(head: &str, secure: bool) -> Result<(Request, String), HeadError> {
        let mut out = Vec::new();
        let parsed = request(head.as_bytes(), PEER, secure, &mut out)?.expect("a whole head");
        Ok((parsed, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn requests_reach_the_endpoint_with_forwarded_fields_and_without_hop_by_hop_ones() {
        let (r, out) = req(
            "GET /a/b?q=1 HTTP/1.1\r\nHost: App.Test:8443\r\nX-Forwarded-For: 198.51.100.7\r\n\
             Connection: keep-alive, x-private\r\nX-Private: 1\r\nKeep-Alive: 5\r\n\
             X-Real-IP: 1.2.3.4\r\nAccept: */*\r\n\r\n",
            true,
        )
        .unwrap();
        assert_eq!((r.host.as_str(), r.path.as_str()), ("app.test", "/a/b"));
        assert!(r.keep_alive && !r.upgrade && r.repeatable());
        assert_eq!(
            out,
            "GET /a/b?q=1 HTTP/1.1\r\nHost: App.Test:8443\r\nAccept: */*\r\n\
             x-forwarded-for: 198.51.100.7, 10.42.0.9\r\nx-forwarded-proto: https\r\n\
             x-forwarded-host: app.test\r\nx-forwarded-port: 8443\r\nx-real-ip: 10.42.0.9\r\n\r\n"
        );
    }

    #[test]
    fn bodies_upgrades_and_absolute_targets_are_framed_for_the_endpoint() {
        let (r, out) = req(
            "POST http://Shop.Test/cart?x HTTP/1.1\r\nHost: other\r\nTransfer-Encoding: gzip, chunked\r\n\
             Expect: 100-continue\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!((r.host.as_str(), r.path.as_str()), ("shop.test", "/cart"));
        assert_eq!(r.framing, Framing::Chunked);
        assert!(r.expect_continue && !r.repeatable());
        assert!(
            out.starts_with("POST /cart?x HTTP/1.1\r\nhost: Shop.Test\r\n"),
            "{out}"
        );
        assert!(out.ends_with("x-forwarded-port: 80\r\nx-real-ip: 10.42.0.9\r\ntransfer-encoding: chunked\r\n\r\n"), "{out}");
        assert!(
            !out.contains("other") && !out.contains("100-continue"),
            "{out}"
        );

        let (r, out) = req(
            "GET /chat HTTP/1.1\r\nHost: [fd00::1]\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.host, "fd00::1");
        assert!(r.upgrade && !r.repeatable());
        assert!(
            out.contains("connection: upgrade\r\nupgrade: websocket\r\n"),
            "{out}"
        );

        let (r, out) = req("PUT /x HTTP/1.0\r\nContent-Length: 3\r\n\r\n", false).unwrap();
        assert!(r.http10 && !r.keep_alive);
        assert_eq!(r.framing, Framing::Length(3));
        assert!(out.starts_with("PUT /x HTTP/1.0\r\n") && out.contains("content-length: 3\r\n"));
    }

    #[test]
    fn unacceptable_requests_say_why() {
        for (head, why) in [
            ("GET / HTTP/1.1\r\n\r\n", "no Host field"),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host field"),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both Transfer-Encoding and Content-Length",
            ),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", "invalid Content-Length"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "a request's Transfer-Encoding must end in chunked"),
            ("GET / HTTP/1.1\r\nHost: a:http\r\n\r\n", "invalid port in Host"),
            ("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", "the request target must be a path or an absolute http(s) URI"),
            ("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", "CONNECT is not served"),
        ] {
            assert_eq!(req(head, false).unwrap_err(), HeadError::Invalid(why), "{head}");
        }
        assert!(matches!(
            req("GARBAGE\r\n\r\n", false),
            Err(HeadError::Malformed(_))
        ));
        let many: String = (0..MAX_FIELDS + 1)
            .map(|i| format!("x-{i}: 1\r\n"))
            .collect();
        assert_eq!(
            req(&format!("GET / HTTP/1.1\r\n{many}\r\n"), false).unwrap_err(),
            HeadError::TooManyFields
        );
        let mut out = Vec::new();
        let partial = format!("GET / HTTP/1.1\r\nx: {}", "a".repeat(MAX_HEAD));
        assert_eq!(
            request(partial.as_bytes(), PEER, false, &mut out).unwrap_err(),
            HeadError::TooLarge
        );
        assert!(request(b"GET / HTTP/1.1\r\nHo", PEER, false, &mut out)
            .unwrap()
            .is_none());
    }

    fn resp(request_head: &str, head: &str) -> Result<(Response, String), HeadError> {
        let (r, _) = req(request_head, false).unwrap();
        let mut out = Vec::new();
        let parsed = response(head.as_bytes(), &r, &mut out)?.expect("a whole head");
        Ok((parsed, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 443, 65535, u64::MAX] {
            let mut out = Vec::new();
            decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn responses_are_framed_for_the_client() {
        const GET: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (r, out) = resp(
            GET,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: x-hop\r\nX-Hop: 1\r\nServer: t\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.framing, r.reusable, r.close),
            (Framing::Length(5), true, false)
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\n"
        );

        let (r, out) = resp(
            GET,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.framing, r.reusable), (Framing::Chunked, false));
        assert_eq!(out, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");

        let (r, out) = resp(GET, "HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert_eq!(
            (r.framing, r.reusable, r.close),
            (Framing::UntilClose, false, true)
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");

        let (r, _) = resp(
            "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.framing, r.reusable), (Framing::Empty, true));
        let (r, out) = resp(
            "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.framing, Framing::Empty);
        assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");
        let (r, _) = resp(GET, "HTTP/1.1 304 Not Modified\r\n\r\n").unwrap();
        assert_eq!((r.framing, r.reusable), (Framing::Empty, true));

        let (r, out) = resp(GET, "HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        assert_eq!((r.status, r.framing), (100, Framing::Empty));
        assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(
            resp(GET, "HTTP/1.1 101 Switching Protocols\r\n\r\n").unwrap_err(),
            HeadError::Invalid("101 Switching Protocols to a request without Upgrade")
        );
        let (r, out) = resp(
            "GET / HTTP/1.0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        )
        .unwrap();
        assert!(
            r.close && out.ends_with("connection: close\r\n\r\n"),
            "{out}"
        );
        // An HTTP/1.0 client asking to keep its connection (ab -k) keeps it when the length
        // is known.
        const KEEP10: &str = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        let (r, out) = resp(KEEP10, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n").unwrap();
        assert!(
            !r.close && out.ends_with("connection: keep-alive\r\n\r\n"),
            "{out}"
        );
        let (r, out) = resp(KEEP10, "HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert!(
            r.close && out.ends_with("connection: close\r\n\r\n"),
            "{out}"
        );
    }

    /// Heads and chunked bodies mangled at random: every outcome is a value or an error,
    /// never a panic, and a head taken is never longer than its input.
    #[test]
    fn mangled_messages_are_errors_not_panics() {
        use rand::Rng;
        let seeds: [&[u8]; 4] = [
            b"POST http://a.test:8080/x?y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close, x\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
            b"GET / HTTP/1.0\r\nContent-Length: 10\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"5;a=b\r\nhello\r\n0\r\nx: y\r\n\r\n",
        ];
        let mut rng = rand::thread_rng();
        let get = request(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            PEER,
            false,
            &mut Vec::new(),
        )
        .expect("valid")
        .expect("whole");
        let mut out = Vec::new();
        for _ in 0..20_000 {
            let mut bytes = seeds[rng.gen_range(0..seeds.len())].to_vec();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..=bytes.len());
                match rng.gen_range(0..3) {
                    0 if at < bytes.len() => bytes[at] = rng.gen(),
                    1 => bytes.insert(
                        at,
                        *b": \r\n0-9a;,".get(rng.gen_range(0..12)).unwrap_or(&b'x'),
                    ),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            if let Ok(Some(r)) = request(&bytes, PEER, rng.gen(), &mut out) {
                assert!(r.len <= bytes.len());
            }
            if let Ok(Some(r)) = response(&bytes, &get, &mut out) {
                assert!(r.len <= bytes.len());
            }
            let mut chunks = super::super::body::Progress::new(Framing::Chunked);
            if let Ok(n) = chunks.take(&bytes) {
                assert!(n <= bytes.len());
            }
        }
    }
}
