//! The Tars protocol, as TarsCpp speaks it over TCP: the TARS binary encoding ([`codec`], with
//! a schema-less [`value`] view), the `RequestPacket`/`ResponsePacket` envelopes and their
//! length-prefixed framing ([`packet`]), the admin servant `AdminF` ([`admin`]), and, with the
//! `client` feature (on by default), an async client connection over tokio ([`client`]).
//!
//! Everything read from a peer is bounded: frames by a maximum length checked before the body
//! is buffered, sizes by the bytes that remain, strings by a ceiling, nesting by a depth limit.
//! Decoding never panics; every failure is a typed error.
//!
//! This crate knows nothing of Docker, templates or tarsdock's runtime: it is the protocol
//! alone, so a service (the example) can answer it without pulling in the rest.

pub mod admin;
#[cfg(feature = "client")]
pub mod client;
pub mod codec;
pub mod packet;
pub mod value;

#[cfg(feature = "client")]
pub use client::{ClientOptions, Connection, Error};
pub use codec::{DecodeError, EncodeError, Kind, Limits, Reader, Writer};
pub use packet::{FrameDecoder, FrameError, RequestPacket, ResponsePacket};
pub use value::Value;
