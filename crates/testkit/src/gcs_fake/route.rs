//! Maps a request head to a JSON API operation (before the body is read, so
//! faults can be chosen by kind).

use percent_encoding::percent_decode_str;

use super::fault::RequestKind;
use super::http::Head;

/// A parsed `Content-Range` of a session PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentRange {
    /// `bytes */*` or `bytes */TOTAL`.
    Query { total: Option<u64> },
    /// `bytes a-b/*` or `bytes a-b/TOTAL` (`end` inclusive).
    Data {
        start: u64,
        end: u64,
        total: Option<u64>,
    },
}

/// The operation a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Initiate {
        bucket: String,
    },
    SimpleUpload {
        bucket: String,
    },
    /// `Err` holds why the `Content-Range` is unusable; `Ok(None)`: no `Content-Range`.
    SessionPut {
        bucket: String,
        upload_id: String,
        range: Result<Option<ContentRange>, String>,
    },
    SessionDelete {
        bucket: String,
        upload_id: String,
    },
    Stat {
        bucket: String,
        object: String,
    },
    Download {
        bucket: String,
        object: String,
    },
    DeleteObject {
        bucket: String,
        object: String,
    },
    List {
        bucket: String,
    },
    CreateBucket,
    GetBucket {
        bucket: String,
    },
    Token,
    /// A request the fake answers with this status and message without touching state.
    Reject {
        status: u16,
        message: String,
    },
}

impl Route {
    pub(crate) fn kind(&self) -> RequestKind {
        match self {
            Route::Initiate { .. } => RequestKind::Initiate,
            Route::SimpleUpload { .. } => RequestKind::SimpleUpload,
            Route::SessionPut { range, .. } => match range {
                Ok(Some(ContentRange::Query { .. })) => RequestKind::StatusQuery,
                Ok(Some(ContentRange::Data { total: None, .. })) => RequestKind::ChunkPut,
                Ok(Some(ContentRange::Data { total: Some(_), .. })) | Ok(None) => RequestKind::Finalize,
                Err(_) => RequestKind::Other,
            },
            Route::SessionDelete { .. } => RequestKind::Cancel,
            Route::Stat { .. } => RequestKind::Stat,
            Route::Download { .. } => RequestKind::Download,
            Route::List { .. } => RequestKind::List,
            Route::Token => RequestKind::Token,
            Route::DeleteObject { .. }
            | Route::CreateBucket
            | Route::GetBucket { .. }
            | Route::Reject { .. } => RequestKind::Other,
        }
    }

    pub(crate) fn upload_id(&self) -> Option<&str> {
        match self {
            Route::SessionPut { upload_id, .. } | Route::SessionDelete { upload_id, .. } => Some(upload_id),
            _ => None,
        }
    }
}

/// Splits a request target into its path and decoded query pairs.
pub(crate) fn split_target(target: &str) -> (&str, Vec<(String, String)>) {
    match target.split_once('?') {
        Some((path, query)) => (
            path,
            form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
        ),
        None => (target, Vec::new()),
    }
}

/// First value of query parameter `name`.
pub(crate) fn query_param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn decode_segment(seg: &str) -> Result<String, String> {
    percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("path segment {seg:?} is not percent-encoded UTF-8"))
}

/// Parses `Content-Range` of a session PUT.
pub(crate) fn parse_content_range(v: &str) -> Result<ContentRange, String> {
    let bad = || format!("Failed to parse Content-Range header: {v:?}");
    let rest = v.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let total = match total {
        "*" => None,
        t => Some(t.parse::<u64>().map_err(|_| bad())?),
    };
    if range == "*" {
        return Ok(ContentRange::Query { total });
    }
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let start = a.parse::<u64>().map_err(|_| bad())?;
    let end = b.parse::<u64>().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    Ok(ContentRange::Data { start, end, total })
}

fn reject(status: u16, message: impl Into<String>) -> Route {
    Route::Reject {
        status,
        message: message.into(),
    }
}

/// Routes a request head.
pub(crate) fn route(head: &Head) -> Route {
    let (path, query) = split_target(&head.target);
    let method = head.method.as_str();
    if path == "/token" {
        return if method == "POST" {
            Route::Token
        } else {
            reject(405, "token endpoint takes POST")
        };
    }
    let segs: Vec<&str> = path.split('/').collect();
    let decoded = |s: &str| decode_segment(s);
    // ["", "upload", "storage", "v1", "b", B, "o"]
    match segs.as_slice() {
        ["", "upload", "storage", "v1", "b", b, "o"] => {
            let bucket = match decoded(b) {
                Ok(b) => b,
                Err(e) => return reject(400, e),
            };
            if let Some(upload_id) = query_param(&query, "upload_id") {
                let upload_id = upload_id.to_string();
                return match method {
                    "PUT" => {
                        let range = head.header("content-range").map(parse_content_range).transpose();
                        Route::SessionPut {
                            bucket,
                            upload_id,
                            range,
                        }
                    }
                    "DELETE" => Route::SessionDelete { bucket, upload_id },
                    _ => reject(405, format!("{method} is not allowed on an upload session")),
                };
            }
            if method != "POST" {
                return reject(405, format!("{method} is not allowed on the upload endpoint"));
            }
            match query_param(&query, "uploadType") {
                Some("resumable") => Route::Initiate { bucket },
                Some("media") => Route::SimpleUpload { bucket },
                Some(other) => reject(400, format!("uploadType={other} is not implemented by the fake")),
                None => reject(400, "Required parameter: uploadType"),
            }
        }
        ["", "storage", "v1", "b"] => match method {
            "POST" => Route::CreateBucket,
            _ => reject(405, "bucket listing is not implemented by the fake"),
        },
        ["", "storage", "v1", "b", b] => match (method, decoded(b)) {
            ("GET", Ok(bucket)) => Route::GetBucket { bucket },
            (_, Err(e)) => reject(400, e),
            _ => reject(
                405,
                format!("{method} on a bucket is not implemented by the fake"),
            ),
        },
        ["", "storage", "v1", "b", b, "o"] => match (method, decoded(b)) {
            ("GET", Ok(bucket)) => Route::List { bucket },
            (_, Err(e)) => reject(400, e),
            _ => reject(405, format!("{method} on an object collection is not allowed")),
        },
        ["", "storage", "v1", "b", b, "o", o] | ["", "download", "storage", "v1", "b", b, "o", o] => {
            let (bucket, object) = match (decoded(b), decoded(o)) {
                (Ok(b), Ok(o)) if !o.is_empty() => (b, o),
                (Err(e), _) | (_, Err(e)) => return reject(400, e),
                _ => return reject(404, "Not Found"),
            };
            let media = query_param(&query, "alt") == Some("media");
            match method {
                "GET" if media => Route::Download { bucket, object },
                "GET" => Route::Stat { bucket, object },
                "DELETE" if segs[1] == "storage" => Route::DeleteObject { bucket, object },
                _ => reject(
                    405,
                    format!("{method} on an object is not implemented by the fake"),
                ),
            }
        }
        // Object names must be percent-encoded: a raw '/' in the name is a client bug.
        ["", "storage", "v1", "b", _, "o", _, ..] | ["", "download", "storage", "v1", "b", _, "o", _, ..] => {
            reject(
                404,
                "Not Found (object names in the path must be percent-encoded, '/' as %2F)",
            )
        }
        _ => reject(404, "Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcs_fake::http::BodyKind;

    fn head(method: &str, target: &str, headers: &[(&str, &str)]) -> Head {
        Head {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: BodyKind::Length(0),
            expect_continue: false,
            close: false,
        }
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes */*"),
            Ok(ContentRange::Query { total: None })
        );
        assert_eq!(
            parse_content_range("bytes */10"),
            Ok(ContentRange::Query { total: Some(10) })
        );
        assert_eq!(
            parse_content_range("bytes 0-9/*"),
            Ok(ContentRange::Data {
                start: 0,
                end: 9,
                total: None
            })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/10"),
            Ok(ContentRange::Data {
                start: 5,
                end: 9,
                total: Some(10)
            })
        );
        for bad in ["bytes 9-5/*", "bytes 0-9", "0-9/*", "bytes a-b/*", "bytes 0-9/x"] {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes() {
        let r = route(&head(
            "POST",
            "/upload/storage/v1/b/bk/o?uploadType=resumable&name=a",
            &[],
        ));
        assert_eq!(r, Route::Initiate { bucket: "bk".into() });
        let r = route(&head(
            "PUT",
            "/upload/storage/v1/b/bk/o?uploadType=resumable&name=a&upload_id=U",
            &[("content-range", "bytes 0-9/*")],
        ));
        assert_eq!(r.kind(), RequestKind::ChunkPut);
        assert_eq!(r.upload_id(), Some("U"));
        let r = route(&head("GET", "/storage/v1/b/bk/o/a%2Fb%20c?alt=media", &[]));
        assert_eq!(
            r,
            Route::Download {
                bucket: "bk".into(),
                object: "a/b c".into()
            }
        );
        let r = route(&head("GET", "/download/storage/v1/b/bk/o/x?alt=media", &[]));
        assert_eq!(r.kind(), RequestKind::Download);
        let r = route(&head("GET", "/storage/v1/b/bk/o/a/b", &[]));
        assert!(matches!(r, Route::Reject { status: 404, .. }));
        let r = route(&head("GET", "/storage/v1/b/bk/o?prefix=p", &[]));
        assert_eq!(r, Route::List { bucket: "bk".into() });
    }
}
