//! A small HTTP/1.1 connection: request heads via `httparse`, bodies with
//! `Content-Length` or chunked encoding, read at an optional rate limit and
//! stoppable at an exact byte, keep-alive, `Expect: 100-continue`. Hand-rolled
//! so faults can act between any two bytes.

use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
const READ_SIZE: usize = 64 * 1024;

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// Request target as sent: path plus query.
    pub(crate) target: String,
    /// Lower-cased names, values as sent (lossy UTF-8).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: BodyKind,
    pub(crate) expect_continue: bool,
    /// The client asked to close after this exchange (or spoke HTTP/1.0).
    pub(crate) close: bool,
}

impl Head {
    /// First value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name`, split on commas.
    pub(crate) fn header_list(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=UTF-8".into())],
            body: value.to_string().into_bytes(),
        }
    }
}

/// Paces consumption to `rate` bytes per second.
struct Pacer {
    rate: u64,
    start: Instant,
    consumed: u64,
}

impl Pacer {
    fn chunk(&self) -> usize {
        usize::try_from((self.rate / 20).clamp(1, READ_SIZE as u64)).unwrap_or(READ_SIZE)
    }

    async fn take(&mut self, n: usize) {
        self.consumed += n as u64;
        let due = self.start + Duration::from_secs_f64(self.consumed as f64 / self.rate as f64);
        tokio::time::sleep_until(due.into()).await;
    }
}

/// One client connection.
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads up to `max` more bytes into the buffer; 0 means EOF.
    async fn fill(&mut self, max: usize) -> io::Result<usize> {
        let start = self.buf.len();
        self.buf.resize(start + max, 0);
        let n = self.stream.read(&mut self.buf[start..]).await;
        self.buf.truncate(start + *n.as_ref().unwrap_or(&0));
        n
    }

    /// Reads the next request head; `None` on a clean EOF between requests.
    pub(crate) async fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = parse_head(&self.buf[..end + 4])?;
                self.buf.drain(..end + 4);
                return Ok(Some(head));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("request head too large"));
            }
            if self.fill(READ_SIZE).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Tells a client that sent `Expect: 100-continue` to go ahead.
    pub(crate) async fn send_continue(&mut self) -> io::Result<()> {
        self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await
    }

    /// Reads the body (decoded), stopping after `limit` bytes if given, at most `rate` bytes/s.
    pub(crate) async fn read_body(
        &mut self,
        kind: BodyKind,
        limit: Option<u64>,
        rate: Option<u64>,
    ) -> io::Result<Vec<u8>> {
        let mut pacer = rate.map(|rate| Pacer {
            rate: rate.max(1),
            start: Instant::now(),
            consumed: 0,
        });
        let limit = limit.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        match kind {
            BodyKind::Length(len) => {
                let want = len.min(limit);
                self.read_exact_into(&mut out, want, &mut pacer).await?;
                Ok(out)
            }
            BodyKind::Chunked => loop {
                let line = self.read_line().await?;
                let size_hex = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the blank line.
                    while !self.read_line().await?.is_empty() {}
                    return Ok(out);
                }
                let room = limit - out.len() as u64;
                self.read_exact_into(&mut out, size.min(room), &mut pacer).await?;
                if size >= room {
                    return Ok(out);
                }
                if !self.read_line().await?.is_empty() {
                    return Err(invalid("chunk not followed by CRLF"));
                }
            },
        }
    }

    async fn read_exact_into(
        &mut self,
        out: &mut Vec<u8>,
        n: u64,
        pacer: &mut Option<Pacer>,
    ) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            let cap = pacer.as_ref().map_or(READ_SIZE, Pacer::chunk);
            if self.buf.is_empty() && self.fill(cap).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = self
                .buf
                .len()
                .min(cap)
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Some(p) = pacer.as_mut() {
                p.take(take).await;
            }
            out.extend(self.buf.drain(..take));
            left -= take as u64;
        }
        Ok(())
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("line too long"));
            }
            if self.fill(READ_SIZE).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Writes a response with `Content-Length` (and `Connection: close` when closing).
    pub(crate) async fn write_response(&mut self, resp: &Response, close: bool) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (n, v) in &resp.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
        if close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&resp.body);
        self.stream.write_all(&bytes).await?;
        self.stream.flush().await
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> io::Result<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(invalid("incomplete request head")),
        Err(e) => return Err(invalid(&format!("bad request head: {e}"))),
    }
    let method = req.method.unwrap_or("").to_string();
    let target = req.path.unwrap_or("").to_string();
    let http10 = req.version == Some(0);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let body = if chunked {
        BodyKind::Chunked
    } else {
        match get("content-length") {
            Some(v) => BodyKind::Length(v.parse().map_err(|_| invalid("bad Content-Length"))?),
            None => BodyKind::Length(0),
        }
    };
    let connection = get("connection").unwrap_or_default();
    let close = connection.contains("close") || (http10 && !connection.contains("keep-alive"));
    let expect_continue = get("expect").is_some_and(|v| v == "100-continue");
    Ok(Head {
        method,
        target,
        headers,
        body,
        expect_continue,
        close,
    })
}

/// Reason phrases; 308 is "Resume Incomplete" as GCS sends it.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        308 => "Resume Incomplete",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        416 => "Requested Range Not Satisfiable",
        429 => "Too Many Requests",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_head() {
        let h = parse_head(
            b"PUT /x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Goog-Hash: crc32c=a, md5=b\r\n\r\n",
        )
        .expect("valid head");
        assert_eq!((h.method.as_str(), h.target.as_str()), ("PUT", "/x?a=1"));
        assert_eq!(h.body, BodyKind::Length(5));
        assert_eq!(h.header("host"), Some("h"));
        assert_eq!(h.header_list("x-goog-hash"), vec!["crc32c=a", "md5=b"]);
        assert!(!h.close);
        let h = parse_head(b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").expect("valid head");
        assert!(h.close);
        assert_eq!(h.body, BodyKind::Chunked);
    }
}
