//! Scripted faults: what kind of request they hit, which occurrence, and what
//! the fake does instead of (or on top of) answering normally.

use std::time::Duration;

/// What a request is, as the fake classifies it before reading its body.
///
/// `Get` and `Any` only occur in [`Fault`] matchers, never in recorded requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `POST /upload/storage/v1/b/B/o?uploadType=resumable`.
    Initiate,
    /// `PUT <session>` with `Content-Range: bytes a-b/*`.
    ChunkPut,
    /// `PUT <session>` with `Content-Range: bytes */*` or `bytes */TOTAL` (the latter may finalize).
    StatusQuery,
    /// `PUT <session>` with `Content-Range: bytes a-b/TOTAL`, or without `Content-Range` (whole object).
    Finalize,
    /// `DELETE <session>`.
    Cancel,
    /// `POST /upload/storage/v1/b/B/o?uploadType=media`.
    SimpleUpload,
    /// `GET /storage/v1/b/B/o/NAME` (metadata).
    Stat,
    /// `GET ...?alt=media` or `GET /download/storage/v1/b/B/o/NAME?alt=media`.
    Download,
    /// `GET /storage/v1/b/B/o` (listing).
    List,
    /// `POST /token` (OAuth2 JWT bearer grant).
    Token,
    /// Anything else (bucket calls, object delete, malformed requests).
    Other,
    /// Matcher only: [`Stat`](Self::Stat), [`Download`](Self::Download) or [`List`](Self::List).
    Get,
    /// Matcher only: every request.
    Any,
}

impl RequestKind {
    /// Whether a matcher of kind `self` applies to a request classified as `actual`.
    pub fn matches(self, actual: RequestKind) -> bool {
        match self {
            RequestKind::Any => true,
            RequestKind::Get => {
                matches!(
                    actual,
                    RequestKind::Stat | RequestKind::Download | RequestKind::List
                )
            }
            k => k == actual,
        }
    }
}

/// How much of a cut-off body the fake keeps (see [`FaultAction::CutBody`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Keep every received byte: the committed offset may end off a 256 KiB boundary.
    All,
    /// Keep the received bytes up to the last 256 KiB boundary (the chunk granularity).
    RoundDown,
    /// Keep nothing.
    Nothing,
}

/// What the fake does to a request that a [`Fault`] selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Drain the body, change nothing, answer `status` (429, 500, 503, 408, 403, ...) with an
    /// optional `Retry-After: secs`.
    Status {
        /// HTTP status to answer.
        status: u16,
        /// `Retry-After` header value in seconds.
        retry_after: Option<u64>,
    },
    /// Process the request normally (bytes are persisted, objects created), then answer `status`
    /// instead of the real response.
    StatusAfterProcessing {
        /// HTTP status to answer.
        status: u16,
    },
    /// Read `after` bytes of the body, persist them per `persist` (session PUTs only; nothing is
    /// finalized), then close the connection without a response.
    CutBody {
        /// Body bytes read before the cut.
        after: u64,
        /// How much of the received prefix becomes committed.
        persist: Persist,
    },
    /// On a session data PUT: read the whole body but commit only its first `keep` bytes, and
    /// answer 308 with the resulting `Range` (a final chunk is then not finalized), as GCS may
    /// persist less than it was sent. Other requests are processed normally.
    PartialCommit {
        /// Body bytes to commit.
        keep: u64,
    },
    /// Process the request fully (persist, finalize), then close the connection without a response.
    DropAfterProcessing,
    /// Expire the session the request targets, then answer `status` (404 or 410); later requests
    /// to the session get the same status.
    ExpireSession {
        /// 404 (what GCS answers for an unknown or expired session) or 410.
        status: u16,
    },
    /// On a successful finalize or simple upload: after checksum verification, flip every bit of
    /// the stored byte at `offset` (clamped to the object). Metadata keeps the true checksums,
    /// like bit rot on the server's disks.
    FlipStoredByte {
        /// Byte offset in the object.
        offset: u64,
    },
    /// On a successful finalize or simple upload: report a wrong `crc32c` in the response JSON
    /// (the stored object and its metadata stay correct).
    WrongCrc32cInResponse,
    /// Read the body at no more than `bytes_per_sec`, then answer normally.
    Throttle {
        /// Read rate limit.
        bytes_per_sec: u64,
    },
    /// Hold the request for `duration`. With `process`, the request is processed at once and only
    /// the response is delayed; without it, nothing is processed and the connection is closed
    /// after `duration` with no response.
    Stall {
        /// How long to hold the request.
        duration: Duration,
        /// Process the request before waiting.
        process: bool,
    },
}

/// Which matching requests a fault fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The next `n` matching requests (a "storm" when `n > 1`).
    Times(u32),
    /// Only the `n`-th matching request (1-based) counted from injection.
    Nth(u32),
    /// Every matching request until [`GcsFake::clear_faults`](super::GcsFake::clear_faults).
    Always,
}

/// One scripted fault: a request matcher, an occurrence selector and an action.
///
/// ```ignore
/// fake.inject(Fault::status(RequestKind::ChunkPut, 503).retry_after(1).times(3));
/// fake.inject(Fault::new(RequestKind::ChunkPut, FaultAction::CutBody { after: 100_000, persist: Persist::RoundDown }).nth(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Request kind this fault applies to.
    pub kind: RequestKind,
    /// Which matching requests it fires on.
    pub select: Select,
    /// Only requests about this object name (None: any object).
    pub object: Option<String>,
    /// What happens.
    pub action: FaultAction,
}

impl Fault {
    /// A fault firing once, on the next request of `kind`.
    pub fn new(kind: RequestKind, action: FaultAction) -> Fault {
        Fault {
            kind,
            select: Select::Times(1),
            object: None,
            action,
        }
    }

    /// Answer `status` without processing, once (see [`FaultAction::Status`]).
    pub fn status(kind: RequestKind, status: u16) -> Fault {
        Fault::new(
            kind,
            FaultAction::Status {
                status,
                retry_after: None,
            },
        )
    }

    /// Add `Retry-After: secs` to a [`FaultAction::Status`] fault (no effect on other actions).
    pub fn retry_after(mut self, secs: u64) -> Fault {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(secs);
        }
        self
    }

    /// Fire on the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Fault {
        self.select = Select::Times(n);
        self
    }

    /// Fire only on the `n`-th (1-based) matching request after injection.
    pub fn nth(mut self, n: u32) -> Fault {
        self.select = Select::Nth(n);
        self
    }

    /// Fire on every matching request.
    pub fn always(mut self) -> Fault {
        self.select = Select::Always;
        self
    }

    /// Only match requests about object `name`.
    pub fn for_object(mut self, name: &str) -> Fault {
        self.object = Some(name.to_string());
        self
    }
}

/// An injected fault and how often it has matched / fired.
#[derive(Debug)]
pub(crate) struct Armed {
    fault: Fault,
    seen: u32,
    fired: u32,
}

/// The fault queue, in injection order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    armed: Vec<Armed>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        self.armed.push(Armed {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }

    /// Faults that can still fire.
    pub(crate) fn pending(&self) -> usize {
        self.armed.iter().filter(|a| !a.spent()).count()
    }

    /// Counts the request against every matching fault and returns the action of the first one
    /// that fires. `Nth` faults count every matching request; `Times` faults count firings.
    pub(crate) fn select(&mut self, kind: RequestKind, object: Option<&str>) -> Option<FaultAction> {
        let mut chosen = None;
        for a in &mut self.armed {
            if a.spent() || !a.fault.kind.matches(kind) {
                continue;
            }
            if let Some(want) = &a.fault.object {
                if object != Some(want.as_str()) {
                    continue;
                }
            }
            a.seen += 1;
            if chosen.is_some() {
                continue;
            }
            let fire = match a.fault.select {
                Select::Times(n) => a.fired < n,
                Select::Nth(n) => a.seen == n,
                Select::Always => true,
            };
            if fire {
                a.fired += 1;
                chosen = Some(a.fault.action.clone());
            }
        }
        self.armed.retain(|a| !a.spent());
        chosen
    }
}

impl Armed {
    fn spent(&self) -> bool {
        match self.fault.select {
            Select::Times(n) => self.fired >= n,
            Select::Nth(n) => self.seen >= n,
            Select::Always => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> FaultAction {
        FaultAction::Status {
            status: s,
            retry_after: None,
        }
    }

    #[test]
    fn times_fires_n_times_then_is_spent() {
        let mut q = FaultQueue::default();
        q.push(Fault::status(RequestKind::ChunkPut, 503).times(2));
        assert_eq!(q.select(RequestKind::Initiate, None), None);
        assert_eq!(q.select(RequestKind::ChunkPut, None), Some(status(503)));
        assert_eq!(q.select(RequestKind::ChunkPut, None), Some(status(503)));
        assert_eq!(q.select(RequestKind::ChunkPut, None), None);
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn nth_counts_matching_requests_only() {
        let mut q = FaultQueue::default();
        q.push(Fault::status(RequestKind::Get, 500).nth(2));
        assert_eq!(q.select(RequestKind::ChunkPut, None), None);
        assert_eq!(q.select(RequestKind::Stat, None), None);
        assert_eq!(q.select(RequestKind::Download, None), Some(status(500)));
        assert_eq!(q.select(RequestKind::List, None), None);
    }

    #[test]
    fn first_injected_wins_and_object_filter_applies() {
        let mut q = FaultQueue::default();
        q.push(Fault::status(RequestKind::Any, 429).for_object("a"));
        q.push(Fault::status(RequestKind::Any, 500).always());
        assert_eq!(q.select(RequestKind::Stat, Some("b")), Some(status(500)));
        assert_eq!(q.select(RequestKind::Stat, Some("a")), Some(status(429)));
        assert_eq!(q.select(RequestKind::Stat, Some("a")), Some(status(500)));
        assert_eq!(q.pending(), 1);
    }
}
