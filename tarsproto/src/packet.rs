//! The request and response packets of the Tars protocol (TarsCpp `servant/tup/RequestF.tars`)
//! and their framing on a stream: a 4-byte big-endian length that counts itself, then the
//! packet's fields (no `StructBegin`/`StructEnd` around them).

use std::collections::BTreeMap;

use crate::codec::{DecodeError, EncodeError, Limits, Reader, Writer};

/// `iVersion` of the plain Tars protocol (`TARSVERSION`).
pub const TARS_VERSION: i16 = 1;
/// `cPacketType`: a call that expects a response (`TARSNORMAL`).
pub const PACKET_NORMAL: i8 = 0;
/// `cPacketType`: a call that expects none (`TARSONEWAY`).
pub const PACKET_ONEWAY: i8 = 1;
/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// `tars::RequestPacket`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestPacket {
    pub version: i16,
    pub packet_type: i8,
    pub message_type: i32,
    pub request_id: i32,
    pub servant_name: String,
    pub func_name: String,
    /// The call's arguments, each a field with the tag of its position (from 1).
    pub buffer: Vec<u8>,
    /// Milliseconds the caller waits.
    pub timeout: i32,
    pub context: BTreeMap<String, String>,
    pub status: BTreeMap<String, String>,
}

/// `tars::ResponsePacket`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponsePacket {
    pub version: i16,
    pub packet_type: i8,
    pub request_id: i32,
    pub message_type: i32,
    /// `0` for success; the server's error codes are negative (see [`ret_name`]).
    pub ret: i32,
    /// The return value (tag 0) and out parameters (their positions).
    pub buffer: Vec<u8>,
    pub status: BTreeMap<String, String>,
    pub result_desc: String,
    pub context: BTreeMap<String, String>,
}

impl RequestPacket {
    /// The packet's fields, without the length prefix.
    ///
    /// # Errors
    /// A field too large for its length.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        w.write_int(1, i64::from(self.version));
        w.write_int(2, i64::from(self.packet_type));
        w.write_int(3, i64::from(self.message_type));
        w.write_int(4, i64::from(self.request_id));
        w.write_string(5, self.servant_name.as_bytes())?;
        w.write_string(6, self.func_name.as_bytes())?;
        w.write_bytes(7, &self.buffer)?;
        w.write_int(8, i64::from(self.timeout));
        write_map(&mut w, 9, &self.context)?;
        write_map(&mut w, 10, &self.status)?;
        Ok(w.into_bytes())
    }

    /// Reads a packet body (what follows the length prefix).
    ///
    /// # Errors
    /// A missing required field, a field of the wrong type, truncation.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::with_limits(bytes, limits);
        Ok(Self {
            version: required(r.read_int_as(1, true)?, 1)?,
            packet_type: required(r.read_int_as(2, true)?, 2)?,
            message_type: required(r.read_int_as(3, true)?, 3)?,
            request_id: required(r.read_int_as(4, true)?, 4)?,
            servant_name: lossy(r.read_string(5, true)?),
            func_name: lossy(r.read_string(6, true)?),
            buffer: r.read_bytes(7, true)?.unwrap_or_default(),
            timeout: required(r.read_int_as(8, true)?, 8)?,
            context: r.read_string_map(9, true)?.unwrap_or_default(),
            status: r.read_string_map(10, true)?.unwrap_or_default(),
        })
    }

    /// The framed packet: length prefix and body.
    ///
    /// # Errors
    /// A field too large, or a packet over 4 GiB.
    pub fn to_frame(&self) -> Result<Vec<u8>, EncodeError> {
        frame(&self.encode()?)
    }
}

impl ResponsePacket {
    /// The packet's fields, without the length prefix.
    ///
    /// # Errors
    /// A field too large for its length.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        w.write_int(1, i64::from(self.version));
        w.write_int(2, i64::from(self.packet_type));
        w.write_int(3, i64::from(self.request_id));
        w.write_int(4, i64::from(self.message_type));
        w.write_int(5, i64::from(self.ret));
        w.write_bytes(6, &self.buffer)?;
        write_map(&mut w, 7, &self.status)?;
        if !self.result_desc.is_empty() {
            w.write_string(8, self.result_desc.as_bytes())?;
        }
        if !self.context.is_empty() {
            write_map(&mut w, 9, &self.context)?;
        }
        Ok(w.into_bytes())
    }

    /// Reads a packet body (what follows the length prefix).
    ///
    /// # Errors
    /// A missing required field, a field of the wrong type, truncation.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::with_limits(bytes, limits);
        Ok(Self {
            version: required(r.read_int_as(1, true)?, 1)?,
            packet_type: required(r.read_int_as(2, true)?, 2)?,
            request_id: required(r.read_int_as(3, true)?, 3)?,
            message_type: required(r.read_int_as(4, true)?, 4)?,
            ret: required(r.read_int_as(5, true)?, 5)?,
            buffer: r.read_bytes(6, true)?.unwrap_or_default(),
            status: r.read_string_map(7, true)?.unwrap_or_default(),
            result_desc: lossy(r.read_string(8, false)?),
            context: r.read_string_map(9, false)?.unwrap_or_default(),
        })
    }

    /// The framed packet: length prefix and body.
    ///
    /// # Errors
    /// A field too large, or a packet over 4 GiB.
    pub fn to_frame(&self) -> Result<Vec<u8>, EncodeError> {
        frame(&self.encode()?)
    }
}

/// Upstream's name of a server return code (`TARSSERVERSUCCESS`, `TARSSERVERNOFUNCERR`, …).
#[must_use]
pub const fn ret_name(ret: i32) -> &'static str {
    match ret {
        0 => "TARSSERVERSUCCESS",
        -1 => "TARSSERVERDECODEERR",
        -2 => "TARSSERVERENCODEERR",
        -3 => "TARSSERVERNOFUNCERR",
        -4 => "TARSSERVERNOSERVANTERR",
        -5 => "TARSSERVERRESETGRID",
        -6 => "TARSSERVERQUEUETIMEOUT",
        -7 => "TARSASYNCCALLTIMEOUT",
        -8 => "TARSINVOKETIMEOUT",
        -9 => "TARSPROXYCONNECTERR",
        -10 => "TARSSERVEROVERLOAD",
        -11 => "TARSADAPTERNULL",
        -12 => "TARSINVOKEBYINVALIDESET",
        -13 => "TARSCLIENTDECODEERR",
        -15 => "TARSSENDREQUESTERR",
        _ => "TARSSERVERUNKNOWNERR",
    }
}

/// Prefixes `body` with its length (the prefix counts itself).
///
/// # Errors
/// A body longer than `u32::MAX - 4` bytes.
pub fn frame(body: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let len = body
        .len()
        .checked_add(LENGTH_PREFIX)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(EncodeError {
            tag: 0,
            len: body.len(),
        })?;
    let mut out = Vec::with_capacity(body.len() + LENGTH_PREFIX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Why a stream could not be cut into frames.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is smaller than the prefix itself.
    #[error("frame length {0} is shorter than its own 4-byte prefix")]
    TooShort(u32),
    /// The peer announced more than the reader accepts.
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    TooLong { len: u32, limit: usize },
}

/// Cuts a byte stream into frames. Bytes are pushed as they arrive; a frame's body is only
/// buffered after its announced length has been checked against the limit, so a peer cannot
/// make the reader hold more than `max_frame` bytes (plus one read's worth).
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame` bytes (prefix included).
    #[must_use]
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_frame,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame's body (without the prefix), if one has arrived.
    ///
    /// # Errors
    /// A length prefix below 4 or above the limit; the stream cannot be resynchronised after
    /// that, so the connection should be dropped.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(prefix) = self.buf.get(..LENGTH_PREFIX) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let total = usize::try_from(len).unwrap_or(usize::MAX);
        if total < LENGTH_PREFIX {
            return Err(FrameError::TooShort(len));
        }
        if total > self.max_frame {
            return Err(FrameError::TooLong {
                len,
                limit: self.max_frame,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let body = self.buf[LENGTH_PREFIX..total].to_vec();
        self.buf.drain(..total);
        Ok(Some(body))
    }
}

fn write_map(w: &mut Writer, tag: u8, map: &BTreeMap<String, String>) -> Result<(), EncodeError> {
    w.write_string_map(tag, map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn required<T>(value: Option<T>, tag: u8) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::Missing { tag })
}

fn lossy(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_through_a_frame() {
        let request = RequestPacket {
            version: TARS_VERSION,
            packet_type: PACKET_NORMAL,
            request_id: 7,
            servant_name: "AdminObj".into(),
            func_name: "notify".into(),
            buffer: vec![0x16, 1, b'x'],
            timeout: 3000,
            context: [("a".to_owned(), "b".to_owned())].into(),
            ..RequestPacket::default()
        };
        let frame = request.to_frame().unwrap();
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len()
        );
        let mut decoder = FrameDecoder::new(1 << 20);
        decoder.push(&frame[..5]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&frame[5..]);
        let body = decoder.next_frame().unwrap().unwrap();
        assert_eq!(RequestPacket::decode(&body, Limits::default()), Ok(request));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn response_optional_fields_are_optional() {
        let response = ResponsePacket {
            version: TARS_VERSION,
            request_id: 9,
            ret: -3,
            ..ResponsePacket::default()
        };
        let body = response.encode().unwrap();
        assert_eq!(
            ResponsePacket::decode(&body, Limits::default()),
            Ok(response)
        );
    }

    #[test]
    fn announced_lengths_are_checked_before_buffering() {
        let mut decoder = FrameDecoder::new(64);
        decoder.push(&[0x7F, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLong { .. })
        ));
        let mut decoder = FrameDecoder::new(64);
        decoder.push(&[0, 0, 0, 3]);
        assert_eq!(decoder.next_frame(), Err(FrameError::TooShort(3)));
    }
}
