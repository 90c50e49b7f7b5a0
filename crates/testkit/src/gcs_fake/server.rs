//! Accept loop and per-request driver: classify, pick a fault, read the body
//! (throttled or cut), run the handler, then answer, delay or hang up.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::fault::FaultAction;
use super::http::{BodyKind, Conn, Head, Response};
use super::route;
use super::store::{error, State};
use super::RecordedRequest;

/// State shared by the server thread and the test's handle.
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
        }
    }

    /// Locks the state; a panic elsewhere must not wedge the fake.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Accepts connections until `stop` fires.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, shared.clone()));
                }
            }
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut conn = Conn::new(stream);
    loop {
        let head = match conn.read_head().await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(_) => {
                let _ = conn
                    .write_response(&error(400, "Malformed HTTP request"), true)
                    .await;
                return;
            }
        };
        if !exchange(&mut conn, &shared, head).await {
            return;
        }
    }
}

/// Fills in the outcome of a recorded request.
fn finish(shared: &Shared, index: usize, body_len: usize, status: Option<u16>) {
    let mut st = shared.lock();
    if let Some(r) = st.requests.get_mut(index) {
        r.body_len = body_len as u64;
        r.status = status;
    }
}

/// Serves one request; returns whether the connection stays open.
async fn exchange(conn: &mut Conn, shared: &Shared, head: Head) -> bool {
    let route = route::route(&head);
    let kind = route.kind();
    let (index, action) = {
        let mut st = shared.lock();
        let object = st.request_object(&head, &route);
        let action = st.faults.select(kind, object.as_deref());
        let seq = st.next_seq();
        st.requests.push(RecordedRequest {
            seq,
            method: head.method.clone(),
            path: head.target.clone(),
            kind,
            upload_id: route.upload_id().map(str::to_string),
            object,
            headers: head.headers.clone(),
            body_len: 0,
            status: None,
            fault: action.clone(),
        });
        (st.requests.len() - 1, action)
    };
    if head.expect_continue && head.body != BodyKind::Length(0) && conn.send_continue().await.is_err() {
        return false;
    }

    // Faults that replace the normal exchange.
    match &action {
        Some(FaultAction::Status { status, retry_after }) => {
            let body = match conn.read_body(head.body, None, None).await {
                Ok(b) => b,
                Err(_) => return false,
            };
            let mut resp = error(*status, &format!("Injected fault: HTTP {status}."));
            if let Some(secs) = retry_after {
                resp = resp.header("Retry-After", secs.to_string());
            }
            return respond(conn, shared, index, &head, body.len(), resp).await;
        }
        Some(FaultAction::ExpireSession { status }) => {
            let body = match conn.read_body(head.body, None, None).await {
                Ok(b) => b,
                Err(_) => return false,
            };
            if let Some(id) = route.upload_id() {
                shared.lock().expire_session(id, *status);
            }
            let resp = error(*status, "The upload session has expired.");
            return respond(conn, shared, index, &head, body.len(), resp).await;
        }
        Some(FaultAction::CutBody { after, persist }) => {
            // A read error just means the client gave up first; keep what arrived.
            let body = conn
                .read_body(head.body, Some(*after), None)
                .await
                .unwrap_or_default();
            shared.lock().persist_partial(&route, &body, *persist);
            finish(shared, index, body.len(), None);
            return false;
        }
        Some(FaultAction::Stall {
            duration,
            process: false,
        }) => {
            let len = conn.read_body(head.body, None, None).await.map_or(0, |b| b.len());
            tokio::time::sleep(*duration).await;
            finish(shared, index, len, None);
            return false;
        }
        _ => {}
    }

    let rate = match &action {
        Some(FaultAction::Throttle { bytes_per_sec }) => Some(*bytes_per_sec),
        _ => None,
    };
    let body = match conn.read_body(head.body, None, rate).await {
        Ok(b) => b,
        Err(_) => {
            finish(shared, index, 0, None);
            return false;
        }
    };
    if let Some(FaultAction::PartialCommit { keep }) = &action {
        let keep = usize::try_from(*keep).unwrap_or(usize::MAX).min(body.len());
        let partial = shared.lock().partial_commit(&route, &body[..keep]);
        if let Some(resp) = partial {
            return respond(conn, shared, index, &head, body.len(), resp).await;
        }
    }
    let mut outcome = shared.lock().handle(&head, &route, &body);

    // Faults that act after processing.
    match &action {
        Some(FaultAction::StatusAfterProcessing { status }) => {
            outcome.resp = error(
                *status,
                &format!("Injected fault after processing: HTTP {status}."),
            );
        }
        Some(FaultAction::DropAfterProcessing) => {
            finish(shared, index, body.len(), None);
            return false;
        }
        Some(FaultAction::WrongCrc32cInResponse) if outcome.created.is_some() => {
            outcome.resp = wrong_crc(outcome.resp);
        }
        Some(FaultAction::FlipStoredByte { offset }) => {
            if let Some((bucket, name)) = &outcome.created {
                shared.lock().flip_byte(bucket, name, *offset);
            }
        }
        Some(FaultAction::Stall {
            duration,
            process: true,
        }) => tokio::time::sleep(*duration).await,
        _ => {}
    }
    respond(conn, shared, index, &head, body.len(), outcome.resp).await
}

/// Replaces the `crc32c` of an object-metadata response with a different valid value.
fn wrong_crc(resp: Response) -> Response {
    let Ok(mut meta) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
        return resp;
    };
    let Some(crc) = meta.get("crc32c").and_then(|v| v.as_str()).map(str::to_string) else {
        return resp;
    };
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let raw = engine.decode(&crc).unwrap_or_else(|_| vec![0; 4]);
    let flipped: Vec<u8> = raw.iter().map(|b| !b).collect();
    meta["crc32c"] = serde_json::Value::String(engine.encode(flipped));
    Response::json(resp.status, &meta)
}

async fn respond(
    conn: &mut Conn,
    shared: &Shared,
    index: usize,
    head: &Head,
    body_len: usize,
    resp: Response,
) -> bool {
    // Record first: a test may look at the log as soon as it has the response.
    finish(shared, index, body_len, Some(resp.status));
    conn.write_response(&resp, head.close).await.is_ok() && !head.close
}
