//! `tars::AdminF`, the admin servant every TarsCpp server serves as `AdminObj` on its `local`
//! endpoint: `void shutdown()` and `string notify(string command)`.
//!
//! The client side (with the `client` feature) is what tarsnode's `CommandStop` and TarsWeb's
//! "send command" do; the server side ([`AdminRequest`] and the response builders) lets a
//! service written in Rust answer them.

use crate::codec::{DecodeError, EncodeError, Limits, Reader, Writer};
use crate::packet::{RequestPacket, ResponsePacket, TARS_VERSION};

/// The admin servant's name.
pub const ADMIN_SERVANT: &str = "AdminObj";
/// `AdminF::shutdown`.
pub const SHUTDOWN: &str = "shutdown";
/// `AdminF::notify`.
pub const NOTIFY: &str = "notify";

/// The argument buffer of `notify(command)`: the command as field 1.
///
/// # Errors
/// A command over 4 GiB.
pub fn notify_args(command: &str) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    w.write_string(1, command.as_bytes())?;
    Ok(w.into_bytes())
}

/// The answer of `notify` from a response buffer: the return value, field 0.
///
/// # Errors
/// A buffer without a string at tag 0.
pub fn notify_answer(buffer: &[u8], limits: Limits) -> Result<String, DecodeError> {
    let mut r = Reader::with_limits(buffer, limits);
    Ok(String::from_utf8_lossy(r.read_string(0, true)?.unwrap_or_default()).into_owned())
}

/// A call to the admin servant, as a server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRequest {
    Shutdown,
    Notify(String),
    /// Another function (upstream answers `TARSSERVERNOFUNCERR`).
    Unknown(String),
}

impl AdminRequest {
    /// Reads the call from a request packet addressed to [`ADMIN_SERVANT`].
    ///
    /// # Errors
    /// A `notify` without its string argument.
    pub fn from_packet(packet: &RequestPacket, limits: Limits) -> Result<Self, DecodeError> {
        match packet.func_name.as_str() {
            SHUTDOWN => Ok(Self::Shutdown),
            NOTIFY => {
                let mut r = Reader::with_limits(&packet.buffer, limits);
                let command = r.read_string(1, true)?.unwrap_or_default();
                Ok(Self::Notify(String::from_utf8_lossy(command).into_owned()))
            }
            other => Ok(Self::Unknown(other.to_owned())),
        }
    }
}

/// The answer to a request: `ret` 0 and `buffer`, or an error code with a description.
///
/// # Errors
/// A buffer or description over 4 GiB.
pub fn response(
    request: &RequestPacket,
    ret: i32,
    buffer: Vec<u8>,
    result_desc: &str,
) -> Result<ResponsePacket, EncodeError> {
    Ok(ResponsePacket {
        version: TARS_VERSION,
        packet_type: request.packet_type,
        request_id: request.request_id,
        message_type: request.message_type,
        ret,
        buffer,
        status: Default::default(),
        result_desc: result_desc.to_owned(),
        context: Default::default(),
    })
}

/// The buffer of `notify`'s answer: the string as field 0.
///
/// # Errors
/// An answer over 4 GiB.
pub fn notify_result(answer: &str) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    w.write_string(0, answer.as_bytes())?;
    Ok(w.into_bytes())
}

#[cfg(feature = "client")]
mod client_side {
    use tokio::time::Instant;

    use super::{ADMIN_SERVANT, NOTIFY, SHUTDOWN, notify_answer, notify_args};
    use crate::client::{Connection, Error};

    /// How a shutdown request ended on the wire.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ShutdownAck {
        /// The server answered the call.
        Answered,
        /// The server closed the connection after the request was sent (it was exiting).
        Closed,
    }

    impl Connection {
        /// `AdminF::shutdown()`. A server may exit before it answers, so a connection closed
        /// after the request was sent counts as accepted.
        ///
        /// # Errors
        /// Connection, timeout and server errors.
        pub async fn admin_shutdown(&mut self) -> Result<ShutdownAck, Error> {
            let deadline = Instant::now() + self.call_timeout();
            let id = self
                .send(ADMIN_SERVANT, SHUTDOWN, Vec::new(), deadline)
                .await?;
            match self.receive(ADMIN_SERVANT, SHUTDOWN, id, deadline).await {
                Ok(response) if response.ret != 0 => Err(Error::Server {
                    servant: ADMIN_SERVANT.to_owned(),
                    func: SHUTDOWN.to_owned(),
                    ret: response.ret,
                    desc: response.result_desc,
                }),
                Ok(_) => Ok(ShutdownAck::Answered),
                Err(Error::Closed { .. }) => Ok(ShutdownAck::Closed),
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    Ok(ShutdownAck::Closed)
                }
                Err(e) => Err(e),
            }
        }

        /// `AdminF::notify(command)`: the server's answer.
        ///
        /// # Errors
        /// Connection, timeout, server and decode errors.
        pub async fn admin_notify(&mut self, command: &str) -> Result<String, Error> {
            let limits = self.limits();
            let response = self
                .call(ADMIN_SERVANT, NOTIFY, notify_args(command)?)
                .await?;
            notify_answer(&response.buffer, limits).map_err(|source| Error::Decode {
                addr: self.peer(),
                source,
            })
        }
    }
}

#[cfg(feature = "client")]
pub use client_side::ShutdownAck;
