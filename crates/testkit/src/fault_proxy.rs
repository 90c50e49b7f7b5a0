//! A loopback TCP proxy that injects network faults between a client and a
//! server: cut every open connection (a reset mid-stream), stall traffic,
//! or cap bandwidth. For chaos tests of anything that talks to Postgres or
//! an object store.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// Open connections (both halves), to cut.
    conns: Mutex<Vec<TcpStream>>,
    /// While true, bytes are held back.
    stalled: AtomicBool,
    /// Bytes per second per direction and connection; 0 = unlimited.
    rate: AtomicU64,
    /// Bytes forwarded, both directions.
    forwarded: AtomicU64,
    stop: AtomicBool,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (any port) and forwards to `target`.
    pub fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fault proxy: bind");
        let addr = listener.local_addr().expect("fault proxy: addr");
        let state = Arc::new(State::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    if let Ok(mut list) = st.conns.lock() {
                        list.push(c2);
                        list.push(s2);
                    }
                }
                let (Ok(c_read), Ok(s_write)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let st1 = st.clone();
                std::thread::spawn(move || pump(c_read, s_write, &st1));
                let st2 = st.clone();
                std::thread::spawn(move || pump(server, client, &st2));
            }
        });
        FaultProxy { addr, state }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Resets every open connection (new ones are still accepted).
    pub fn cut_all(&self) -> usize {
        let list = self
            .state
            .conns
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for s in &list {
            let _ = s.shutdown(Shutdown::Both);
        }
        list.len() / 2
    }

    /// Holds all traffic back until [`FaultProxy::resume`].
    pub fn stall(&self) {
        self.state.stalled.store(true, Ordering::SeqCst);
    }

    /// Lets traffic flow again.
    pub fn resume(&self) {
        self.state.stalled.store(false, Ordering::SeqCst);
    }

    /// Caps each direction of each connection at `bytes_per_sec` (0 = no cap).
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.state.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Bytes forwarded so far, both directions.
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.cut_all();
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, st: &State) {
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut sent = 0u64;
    loop {
        while st.stalled.load(Ordering::SeqCst) && !st.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let rate = st.rate.load(Ordering::SeqCst);
        if rate > 0 {
            // Sleep until this direction is back under the cap.
            let due = Duration::from_secs_f64((sent + n as u64) as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        st.forwarded.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_caps_and_cuts() {
        let echo = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = echo.local_addr().expect("addr");
        std::thread::spawn(move || {
            for s in echo.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().expect("clone");
                    let mut w = s;
                    let _ = std::io::copy(&mut r, &mut w);
                });
            }
        });
        let proxy = FaultProxy::start(target);
        let mut c = TcpStream::connect(proxy.addr()).expect("connect");
        c.write_all(b"hello").expect("write");
        let mut got = [0u8; 5];
        c.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"hello");
        proxy.set_rate(10_000);
        let t = Instant::now();
        c.write_all(&[7u8; 20_000]).expect("write");
        let mut back = vec![0u8; 20_000];
        c.read_exact(&mut back).expect("read");
        assert!(
            t.elapsed() >= Duration::from_millis(1500),
            "capped: {:?}",
            t.elapsed()
        );
        proxy.set_rate(0);
        assert_eq!(proxy.cut_all(), 1);
        let mut one = [0u8; 1];
        let r = c.write_all(b"x").and_then(|_| c.read(&mut one));
        assert!(matches!(r, Ok(0) | Err(_)), "the connection is cut: {r:?}");
    }
}
