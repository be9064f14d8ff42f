//! Misbehaving servers on a loopback port, from a plain `TcpListener`: each
//! answers every connection the same canned way, serves a bounded number
//! of connections, and stops by itself after a few seconds.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How the server treats each connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Reads the request and never answers (until the server stops).
    Silent,
    /// Reads the request, writes these bytes, closes.
    Reply(Vec<u8>),
    /// Reads the request, writes these bytes, then one byte of body every
    /// `interval` (at most 50), then closes.
    Trickle(Vec<u8>, Duration),
    /// Answers each connection on its own thread after `delay`, counting
    /// how many are in flight at once.
    Concurrent(Vec<u8>, Duration),
}

/// A running hostile server.
pub struct Hostile {
    pub port: u16,
    /// The most connections in flight at once (for `Concurrent`).
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Hostile {
    /// Starts serving on `127.0.0.1:0`; gives up after `lifetime`.
    pub fn start(behaviour: Behaviour, lifetime: Duration) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let max = max_in_flight.clone();
        let in_flight = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            let deadline = Instant::now() + lifetime;
            let mut held: Vec<TcpStream> = Vec::new();
            let mut served = 0;
            while Instant::now() < deadline && served < 64 {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        served += 1;
                        stream.set_nonblocking(false).unwrap();
                        read_request_head(&mut stream);
                        match &behaviour {
                            Behaviour::Silent => held.push(stream),
                            Behaviour::Reply(bytes) => {
                                let _ = stream.write_all(bytes);
                                let _ = stream.flush();
                            }
                            Behaviour::Concurrent(reply, delay) => {
                                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                max.fetch_max(now, Ordering::SeqCst);
                                let (reply, delay) = (reply.clone(), *delay);
                                let in_flight = in_flight.clone();
                                std::thread::spawn(move || {
                                    std::thread::sleep(delay);
                                    in_flight.fetch_sub(1, Ordering::SeqCst);
                                    let _ = stream.write_all(&reply);
                                });
                            }
                            Behaviour::Trickle(head, interval) => {
                                let _ = stream.write_all(head);
                                for _ in 0..50 {
                                    std::thread::sleep(*interval);
                                    if stream.write_all(b"x").is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            drop(held);
        });
        Hostile {
            port,
            max_in_flight,
        }
    }

    /// A server answering every request with `status` and no body.
    pub fn status(status: u16) -> Hostile {
        let reply =
            format!("HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        Hostile::start(
            Behaviour::Reply(reply.into_bytes()),
            Duration::from_secs(20),
        )
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cache", self.port)
    }
}

/// Reads up to the end of the request head (or a short while).
fn read_request_head(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}
