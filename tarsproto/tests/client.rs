//! The async client against in-process servers on loopback: an AdminF server that answers
//! `notify` and `shutdown`, and peers that misbehave (answer other ids first, announce a huge
//! frame, never answer, hang up).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tarsproto::admin::{self, AdminRequest, ShutdownAck};
use tarsproto::packet::{FrameDecoder, RequestPacket};
use tarsproto::{ClientOptions, Connection, Error, Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the test server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers like a Tars server's AdminObj; closes the connection on shutdown.
    Admin,
    /// Sends an answer to another request id first, then the right one.
    OtherIdFirst,
    /// Announces a 1 GiB frame.
    HugeFrame,
    /// Reads and never answers.
    Silent,
    /// Closes the connection without answering.
    HangUp,
}

async fn serve(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, behaviour));
        }
    });
    addr
}

async fn connection(mut stream: TcpStream, behaviour: Behaviour) {
    let mut frames = FrameDecoder::new(1 << 20);
    let mut chunk = [0u8; 1024];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        frames.push(&chunk[..n]);
        while let Ok(Some(body)) = frames.next_frame() {
            let request = RequestPacket::decode(&body, Limits::default()).unwrap();
            match behaviour {
                Behaviour::HangUp => return,
                Behaviour::Silent => {}
                Behaviour::HugeFrame => {
                    let _ = stream.write_all(&(1u32 << 30).to_be_bytes()).await;
                }
                Behaviour::OtherIdFirst => {
                    let mut other = request.clone();
                    other.request_id += 1000;
                    let wrong =
                        admin::response(&other, 0, admin::notify_result("wrong").unwrap(), "")
                            .unwrap();
                    let right =
                        admin::response(&request, 0, admin::notify_result("right").unwrap(), "")
                            .unwrap();
                    let _ = stream.write_all(&wrong.to_frame().unwrap()).await;
                    let _ = stream.write_all(&right.to_frame().unwrap()).await;
                }
                Behaviour::Admin => {
                    match AdminRequest::from_packet(&request, Limits::default()).unwrap() {
                        AdminRequest::Shutdown => return,
                        AdminRequest::Notify(command) => {
                            let answer =
                                format!("[notify prefix object num:1]\nanswer to {command}");
                            let response = admin::response(
                                &request,
                                0,
                                admin::notify_result(&answer).unwrap(),
                                "",
                            )
                            .unwrap();
                            let _ = stream.write_all(&response.to_frame().unwrap()).await;
                        }
                        AdminRequest::Unknown(_) => {
                            let response =
                                admin::response(&request, -3, Vec::new(), "no such function")
                                    .unwrap();
                            let _ = stream.write_all(&response.to_frame().unwrap()).await;
                        }
                    }
                }
            }
        }
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        call_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn notify_is_answered_and_ids_advance() {
    let addr = serve(Behaviour::Admin).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    let first = conn.admin_notify("tars.viewstatus").await.unwrap();
    assert!(first.ends_with("answer to tars.viewstatus"), "{first}");
    let second = conn.admin_notify("tars.setloglevel DEBUG").await.unwrap();
    assert!(
        second.ends_with("answer to tars.setloglevel DEBUG"),
        "{second}"
    );
}

#[tokio::test]
async fn shutdown_counts_a_hang_up_after_sending_as_accepted() {
    let addr = serve(Behaviour::Admin).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    assert_eq!(conn.admin_shutdown().await.unwrap(), ShutdownAck::Closed);
}

#[tokio::test]
async fn unknown_functions_are_server_errors() {
    let addr = serve(Behaviour::Admin).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    let err = conn
        .call("AdminObj", "reboot", Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { ret: -3, .. }), "{err}");
    assert!(err.to_string().contains("TARSSERVERNOFUNCERR"), "{err}");
}

#[tokio::test]
async fn answers_to_other_requests_are_skipped() {
    let addr = serve(Behaviour::OtherIdFirst).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    assert_eq!(conn.admin_notify("x").await.unwrap(), "right");
}

#[tokio::test]
async fn a_huge_announced_frame_is_refused_without_buffering() {
    let addr = serve(Behaviour::HugeFrame).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    let err = conn.admin_notify("x").await.unwrap_err();
    assert!(matches!(err, Error::Frame { .. }), "{err}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let addr = serve(Behaviour::Silent).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    let started = std::time::Instant::now();
    let err = conn.admin_notify("x").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_hang_up_before_answering_is_closed() {
    let addr = serve(Behaviour::HangUp).await;
    let mut conn = Connection::connect(addr, options()).await.unwrap();
    let err = conn.admin_notify("x").await.unwrap_err();
    assert!(
        matches!(err, Error::Closed { .. } | Error::Io { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Connection::connect(addr, options()).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
}
