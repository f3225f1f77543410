//! An async client connection over tokio: one TCP stream, calls answered in order of their
//! request ids, every wait bounded, every frame bounded.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::codec::{DecodeError, EncodeError, Limits};
use crate::packet::{
    FrameDecoder, FrameError, PACKET_NORMAL, RequestPacket, ResponsePacket, TARS_VERSION, ret_name,
};

/// Bounds of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one call may wait for its answer (also sent as the packet's `iTimeout`).
    pub call_timeout: Duration,
    /// Largest frame accepted from the peer, prefix included.
    pub max_frame: usize,
    /// Limits of the decoder.
    pub limits: Limits,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(5),
            // An admin answer (`tars.viewstatus`) is a few KiB; 16 MiB leaves room for any
            // reasonable servant without letting a peer make us hold more.
            max_frame: 16 * 1024 * 1024,
            limits: Limits::default(),
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no connection to {addr} within {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    #[error("{servant}.{func}: no answer from {addr} within {after:?}")]
    Timeout {
        addr: SocketAddr,
        servant: String,
        func: String,
        after: Duration,
    },
    #[error("{servant}.{func}: {addr} closed the connection before answering")]
    Closed {
        addr: SocketAddr,
        servant: String,
        func: String,
    },
    #[error("{servant}.{func}: {addr}: {source}")]
    Io {
        addr: SocketAddr,
        servant: String,
        func: String,
        source: std::io::Error,
    },
    #[error("{addr} sent an unusable frame: {source}")]
    Frame {
        addr: SocketAddr,
        #[source]
        source: FrameError,
    },
    #[error("{addr} sent a packet that cannot be decoded: {source}")]
    Decode {
        addr: SocketAddr,
        #[source]
        source: DecodeError,
    },
    #[error("the request cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    #[error("{servant}.{func}: the server answered {ret} ({name}){desc}", name = ret_name(*.ret), desc = if .desc.is_empty() { String::new() } else { format!(": {}", .desc) })]
    Server {
        servant: String,
        func: String,
        ret: i32,
        desc: String,
    },
}

/// One connection to a Tars server.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    decoder: FrameDecoder,
    next_id: i32,
    options: ClientOptions,
}

impl Connection {
    /// Connects to `addr` within the connect timeout.
    ///
    /// # Errors
    /// [`Error::Connect`], [`Error::ConnectTimeout`].
    pub async fn connect(addr: SocketAddr, options: ClientOptions) -> Result<Self, Error> {
        let stream =
            match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(source)) => return Err(Error::Connect { addr, source }),
                Err(_) => {
                    return Err(Error::ConnectTimeout {
                        addr,
                        after: options.connect_timeout,
                    });
                }
            };
        // Small request/response exchanges: send each at once.
        let _ = stream.set_nodelay(true);
        Ok(Self {
            stream,
            addr,
            decoder: FrameDecoder::new(options.max_frame),
            next_id: 1,
            options,
        })
    }

    /// The peer's address.
    #[must_use]
    pub fn peer(&self) -> SocketAddr {
        self.addr
    }

    /// Calls `servant.func` with the encoded arguments and waits for the answer with the same
    /// request id (answers to other ids are dropped).
    ///
    /// # Errors
    /// Every [`Error`]; a non-zero `iRet` is [`Error::Server`].
    pub async fn call(
        &mut self,
        servant: &str,
        func: &str,
        args: Vec<u8>,
    ) -> Result<ResponsePacket, Error> {
        let deadline = Instant::now() + self.options.call_timeout;
        let request_id = self.send(servant, func, args, deadline).await?;
        let response = self.receive(servant, func, request_id, deadline).await?;
        if response.ret != 0 {
            return Err(Error::Server {
                servant: servant.to_owned(),
                func: func.to_owned(),
                ret: response.ret,
                desc: response.result_desc,
            });
        }
        Ok(response)
    }

    /// Sends a request and returns its id.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`], [`Error::Timeout`].
    pub(crate) async fn send(
        &mut self,
        servant: &str,
        func: &str,
        args: Vec<u8>,
        deadline: Instant,
    ) -> Result<i32, Error> {
        let request_id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        let timeout_ms = i32::try_from(self.options.call_timeout.as_millis()).unwrap_or(i32::MAX);
        let frame = RequestPacket {
            version: TARS_VERSION,
            packet_type: PACKET_NORMAL,
            message_type: 0,
            request_id,
            servant_name: servant.to_owned(),
            func_name: func.to_owned(),
            buffer: args,
            timeout: timeout_ms,
            context: Default::default(),
            status: Default::default(),
        }
        .to_frame()?;
        match timeout_at(deadline, self.stream.write_all(&frame)).await {
            Ok(Ok(())) => Ok(request_id),
            Ok(Err(source)) => Err(self.io(servant, func, source)),
            Err(_) => Err(self.timeout(servant, func)),
        }
    }

    /// Reads frames until the answer to `request_id` arrives.
    pub(crate) async fn receive(
        &mut self,
        servant: &str,
        func: &str,
        request_id: i32,
        deadline: Instant,
    ) -> Result<ResponsePacket, Error> {
        let mut chunk = vec![0u8; 8192];
        loop {
            while let Some(body) = self.decoder.next_frame().map_err(|source| Error::Frame {
                addr: self.addr,
                source,
            })? {
                let response =
                    ResponsePacket::decode(&body, self.options.limits).map_err(|source| {
                        Error::Decode {
                            addr: self.addr,
                            source,
                        }
                    })?;
                if response.request_id == request_id {
                    return Ok(response);
                }
            }
            let n = match timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => {
                    return Err(Error::Closed {
                        addr: self.addr,
                        servant: servant.to_owned(),
                        func: func.to_owned(),
                    });
                }
                Ok(Ok(n)) => n,
                Ok(Err(source)) => return Err(self.io(servant, func, source)),
                Err(_) => return Err(self.timeout(servant, func)),
            };
            self.decoder.push(&chunk[..n]);
        }
    }

    fn io(&self, servant: &str, func: &str, source: std::io::Error) -> Error {
        Error::Io {
            addr: self.addr,
            servant: servant.to_owned(),
            func: func.to_owned(),
            source,
        }
    }

    fn timeout(&self, servant: &str, func: &str) -> Error {
        Error::Timeout {
            addr: self.addr,
            servant: servant.to_owned(),
            func: func.to_owned(),
            after: self.options.call_timeout,
        }
    }

    /// The decoder limits of this connection.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.options.limits
    }

    /// The call timeout of this connection.
    #[must_use]
    pub fn call_timeout(&self) -> Duration {
        self.options.call_timeout
    }
}
