//! A loopback HTTP/1.1 server on a thread of its own, with its own tokio runtime,
//! stopped and joined when it is dropped: what the fault proxy and the loopback ECR
//! Public are served by.

use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A loopback port, bound and not yet served (so that the state of a server can
/// know its own address before the server starts).
pub(crate) struct Bound {
    listener: std::net::TcpListener,
    /// `127.0.0.1:PORT`.
    pub(crate) host: String,
}

/// Binds a free loopback port.
pub(crate) fn bind() -> Bound {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).unwrap();
    let host = listener.local_addr().unwrap().to_string();
    Bound { listener, host }
}

/// A running server; dropping it stops it and waits for its thread.
pub(crate) struct Loopback {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Bound {
    /// Serves every connection with `handler` (keep-alive, many at once) until the
    /// returned server is dropped; returns once it accepts connections. `what` names
    /// the server in the panic if it cannot start.
    pub(crate) fn serve<H, F, E>(self, what: &str, handler: H) -> Loopback
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let listener = self.listener;
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                ready_tx.send(()).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let handler = handler.clone();
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(handler);
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .keep_alive(true)
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        ready_rx
            .recv()
            .unwrap_or_else(|_| panic!("the {what} does not start"));
        Loopback {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}
