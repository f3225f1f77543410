//! The TARS binary encoding (TarsCpp `servant/tup/Tars.h`): every field is a head — its type in
//! the low four bits and its tag in the high four, with tags of 15 and more in a second byte —
//! followed by the value.
//!
//! | type | code | value |
//! | --- | --- | --- |
//! | `Char` | 0 | 1 byte |
//! | `Short` | 1 | 2 bytes, big-endian |
//! | `Int32` | 2 | 4 bytes, big-endian |
//! | `Int64` | 3 | 8 bytes, big-endian |
//! | `Float` | 4 | 4 bytes, IEEE 754 big-endian |
//! | `Double` | 5 | 8 bytes, IEEE 754 big-endian |
//! | `String1` | 6 | 1-byte length, bytes |
//! | `String4` | 7 | 4-byte big-endian length, bytes |
//! | `Map` | 8 | size (an integer field, tag 0), then key (tag 0) and value (tag 1) pairs |
//! | `List` | 9 | size (an integer field, tag 0), then the elements (tag 0) |
//! | `StructBegin` | 10 | the fields, up to a `StructEnd` |
//! | `StructEnd` | 11 | nothing (always tag 0) |
//! | `ZeroTag` | 12 | nothing: the integer (or float) 0 |
//! | `SimpleList` | 13 | a `Char` head (tag 0), the size (an integer field, tag 0), raw bytes |
//!
//! Integers are written in the narrowest form that holds them (0 as `ZeroTag`), and a reader
//! of a width accepts every narrower form, as upstream does.
//!
//! The [`Reader`] never trusts a length: a size is checked against the bytes that remain before
//! anything is allocated (every element takes at least one byte), strings have a ceiling, and
//! nesting is bounded, so hostile input costs at most its own size and never panics.

use std::fmt;

/// The type code of a field head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Char,
    Short,
    Int32,
    Int64,
    Float,
    Double,
    String1,
    String4,
    Map,
    List,
    StructBegin,
    StructEnd,
    ZeroTag,
    SimpleList,
}

impl Kind {
    /// The four-bit type code.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Char => 0,
            Self::Short => 1,
            Self::Int32 => 2,
            Self::Int64 => 3,
            Self::Float => 4,
            Self::Double => 5,
            Self::String1 => 6,
            Self::String4 => 7,
            Self::Map => 8,
            Self::List => 9,
            Self::StructBegin => 10,
            Self::StructEnd => 11,
            Self::ZeroTag => 12,
            Self::SimpleList => 13,
        }
    }

    /// The kind of a type code; `None` for 14 and 15, which no writer produces.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Char,
            1 => Self::Short,
            2 => Self::Int32,
            3 => Self::Int64,
            4 => Self::Float,
            5 => Self::Double,
            6 => Self::String1,
            7 => Self::String4,
            8 => Self::Map,
            9 => Self::List,
            10 => Self::StructBegin,
            11 => Self::StructEnd,
            12 => Self::ZeroTag,
            13 => Self::SimpleList,
            _ => return None,
        })
    }

    /// Upstream's name of the type, for messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Char => "Char",
            Self::Short => "Short",
            Self::Int32 => "Int32",
            Self::Int64 => "Int64",
            Self::Float => "Float",
            Self::Double => "Double",
            Self::String1 => "String1",
            Self::String4 => "String4",
            Self::Map => "Map",
            Self::List => "List",
            Self::StructBegin => "StructBegin",
            Self::StructEnd => "StructEnd",
            Self::ZeroTag => "ZeroTag",
            Self::SimpleList => "SimpleList",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bytes could not be decoded. The offset is where the reader was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a head or a value.
    #[error("truncated at byte {offset}: {needed} more byte(s) needed")]
    Truncated { offset: usize, needed: usize },
    /// A head with type code 14 or 15.
    #[error("unknown type code {code} at byte {offset}")]
    UnknownType { code: u8, offset: usize },
    /// A field has a type that cannot hold what is read.
    #[error("tag {tag}: expected {expected}, found {found} at byte {offset}")]
    Mismatch {
        tag: u8,
        expected: &'static str,
        found: Kind,
        offset: usize,
    },
    /// A required field is absent.
    #[error("required field with tag {tag} is missing")]
    Missing { tag: u8 },
    /// A size is negative, or larger than the bytes that remain could hold.
    #[error("invalid size {size} at byte {offset}")]
    BadSize { size: i64, offset: usize },
    /// A string is longer than [`Limits::max_string`].
    #[error("string of {len} bytes at byte {offset} exceeds the limit of {limit}")]
    StringTooLong {
        len: usize,
        limit: usize,
        offset: usize,
    },
    /// Structs, lists or maps nest deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {limit} levels at byte {offset}")]
    TooDeep { limit: u32, offset: usize },
    /// An integer does not fit the width asked for.
    #[error("tag {tag}: value {value} does not fit {width}")]
    OutOfRange {
        tag: u8,
        value: i64,
        width: &'static str,
    },
    /// A map entry or list element has the wrong tag.
    #[error("expected tag {expected}, found tag {found} at byte {offset}")]
    UnexpectedTag {
        expected: u8,
        found: u8,
        offset: usize,
    },
}

/// What a [`Reader`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest string (upstream `TARS_MAX_STRING_LENGTH` is 100 MB; a frame is smaller anyway).
    pub max_string: usize,
    /// Deepest nesting of structs, lists and maps.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_string: 100 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Encodes fields into a growing buffer. Writing cannot fail except for a string or byte
/// list longer than 4 GiB, which the length field cannot express.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

/// A value too large for its length field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tag {tag}: {len} bytes do not fit a 32-bit length")]
pub struct EncodeError {
    pub tag: u8,
    pub len: usize,
}

impl Writer {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoded bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// A field head: `type | tag << 4`, or `type | 0xF0` and the tag in a second byte.
    pub fn head(&mut self, kind: Kind, tag: u8) {
        if tag < 15 {
            self.buf.push(kind.code() | (tag << 4));
        } else {
            self.buf.push(kind.code() | 0xF0);
            self.buf.push(tag);
        }
    }

    pub fn write_bool(&mut self, tag: u8, value: bool) {
        self.write_int(tag, i64::from(value));
    }

    /// An integer of any width, in the narrowest form that holds it.
    pub fn write_int(&mut self, tag: u8, value: i64) {
        if value == 0 {
            self.head(Kind::ZeroTag, tag);
        } else if let Ok(v) = i8::try_from(value) {
            self.head(Kind::Char, tag);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = i16::try_from(value) {
            self.head(Kind::Short, tag);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = i32::try_from(value) {
            self.head(Kind::Int32, tag);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.head(Kind::Int64, tag);
            self.buf.extend_from_slice(&value.to_be_bytes());
        }
    }

    pub fn write_f32(&mut self, tag: u8, value: f32) {
        self.head(Kind::Float, tag);
        self.buf.extend_from_slice(&value.to_bits().to_be_bytes());
    }

    pub fn write_f64(&mut self, tag: u8, value: f64) {
        self.head(Kind::Double, tag);
        self.buf.extend_from_slice(&value.to_bits().to_be_bytes());
    }

    /// A string (any bytes): `String1` up to 255 bytes, else `String4`.
    ///
    /// # Errors
    /// When it is longer than `u32::MAX` bytes.
    pub fn write_string(&mut self, tag: u8, value: &[u8]) -> Result<(), EncodeError> {
        if let Ok(len) = u8::try_from(value.len()) {
            self.head(Kind::String1, tag);
            self.buf.push(len);
        } else {
            let len = u32::try_from(value.len()).map_err(|_| EncodeError {
                tag,
                len: value.len(),
            })?;
            self.head(Kind::String4, tag);
            self.buf.extend_from_slice(&len.to_be_bytes());
        }
        self.buf.extend_from_slice(value);
        Ok(())
    }

    /// A `vector<byte>` as upstream writes it: `SimpleList`, a `Char` head, the size, the
    /// bytes.
    ///
    /// # Errors
    /// When it is longer than `i32::MAX` bytes.
    pub fn write_bytes(&mut self, tag: u8, value: &[u8]) -> Result<(), EncodeError> {
        let len = i32::try_from(value.len()).map_err(|_| EncodeError {
            tag,
            len: value.len(),
        })?;
        self.head(Kind::SimpleList, tag);
        self.head(Kind::Char, 0);
        self.write_int(0, i64::from(len));
        self.buf.extend_from_slice(value);
        Ok(())
    }

    /// A `map<string, string>` (upstream writes it in key order).
    ///
    /// # Errors
    /// When a key or value is longer than `u32::MAX` bytes, or there are more than
    /// `i32::MAX` entries.
    pub fn write_string_map<'a, I>(&mut self, tag: u8, entries: I) -> Result<(), EncodeError>
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)>,
    {
        self.begin_map(tag, entries.len())?;
        for (key, value) in entries {
            self.write_string(0, key.as_bytes())?;
            self.write_string(1, value.as_bytes())?;
        }
        Ok(())
    }

    /// The head and size of a map of `len` entries; the caller writes each key with tag 0
    /// and each value with tag 1.
    ///
    /// # Errors
    /// When `len` exceeds `i32::MAX`.
    pub fn begin_map(&mut self, tag: u8, len: usize) -> Result<(), EncodeError> {
        let n = i32::try_from(len).map_err(|_| EncodeError { tag, len })?;
        self.head(Kind::Map, tag);
        self.write_int(0, i64::from(n));
        Ok(())
    }

    /// The head and size of a list of `len` elements; the caller writes each with tag 0.
    ///
    /// # Errors
    /// When `len` exceeds `i32::MAX`.
    pub fn begin_list(&mut self, tag: u8, len: usize) -> Result<(), EncodeError> {
        let n = i32::try_from(len).map_err(|_| EncodeError { tag, len })?;
        self.head(Kind::List, tag);
        self.write_int(0, i64::from(n));
        Ok(())
    }

    /// Opens a struct field; close it with [`Writer::end_struct`].
    pub fn begin_struct(&mut self, tag: u8) {
        self.head(Kind::StructBegin, tag);
    }

    /// Closes a struct field (`StructEnd` always has tag 0).
    pub fn end_struct(&mut self) {
        self.head(Kind::StructEnd, 0);
    }
}

/// Decodes fields from a byte slice. Fields of a struct are read in ascending tag order, as
/// upstream reads them: looking for tag `t` skips every field with a smaller tag and stops,
/// without consuming it, at a larger tag or at the end of the struct.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: u32,
    limits: Limits,
}

impl<'a> Reader<'a> {
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limits(buf, Limits::default())
    }

    #[must_use]
    pub fn with_limits(buf: &'a [u8], limits: Limits) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
            limits,
        }
    }

    /// The current offset.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    #[must_use]
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(DecodeError::Truncated {
                offset: self.pos,
                needed: n.saturating_sub(self.remaining()),
            })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// `N` raw bytes (the body of a fixed-width value).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`].
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// The next head without consuming it: kind, tag and the head's length in bytes.
    ///
    /// # Errors
    /// At the end of the input or on an unknown type code.
    pub fn peek_head(&self) -> Result<(Kind, u8, usize), DecodeError> {
        let truncated = DecodeError::Truncated {
            offset: self.pos,
            needed: 1,
        };
        let first = *self.buf.get(self.pos).ok_or(truncated.clone())?;
        let kind = Kind::from_code(first & 0x0F).ok_or(DecodeError::UnknownType {
            code: first & 0x0F,
            offset: self.pos,
        })?;
        let tag = first >> 4;
        if tag == 15 {
            let tag = *self.buf.get(self.pos + 1).ok_or(DecodeError::Truncated {
                offset: self.pos + 1,
                needed: 1,
            })?;
            Ok((kind, tag, 2))
        } else {
            Ok((kind, tag, 1))
        }
    }

    /// Reads a head.
    ///
    /// # Errors
    /// See [`Reader::peek_head`].
    pub fn read_head(&mut self) -> Result<(Kind, u8), DecodeError> {
        let (kind, tag, len) = self.peek_head()?;
        self.pos += len;
        Ok((kind, tag))
    }

    /// Moves to the field with tag `tag` and consumes its head, returning its kind; `None`
    /// when the struct (or input) has no such field, leaving the next field unread.
    ///
    /// # Errors
    /// Malformed fields on the way.
    pub fn find(&mut self, tag: u8) -> Result<Option<Kind>, DecodeError> {
        while !self.at_end() {
            let (kind, found, len) = self.peek_head()?;
            if kind == Kind::StructEnd || found > tag {
                return Ok(None);
            }
            self.pos += len;
            if found == tag {
                return Ok(Some(kind));
            }
            self.skip_value(kind)?;
        }
        Ok(None)
    }

    fn require(&mut self, tag: u8, required: bool) -> Result<Option<Kind>, DecodeError> {
        match self.find(tag)? {
            None if required => Err(DecodeError::Missing { tag }),
            found => Ok(found),
        }
    }

    /// An integer field of any width (`ZeroTag`, `Char`, `Short`, `Int32`, `Int64`).
    ///
    /// # Errors
    /// A missing required field, another type, truncation.
    pub fn read_int(&mut self, tag: u8, required: bool) -> Result<Option<i64>, DecodeError> {
        let Some(kind) = self.require(tag, required)? else {
            return Ok(None);
        };
        self.int_value(tag, kind).map(Some)
    }

    /// An integer field that must fit `T` (e.g. `i32` for an `int` field).
    ///
    /// # Errors
    /// As [`Reader::read_int`], and [`DecodeError::OutOfRange`].
    pub fn read_int_as<T: TryFrom<i64>>(
        &mut self,
        tag: u8,
        required: bool,
    ) -> Result<Option<T>, DecodeError> {
        match self.read_int(tag, required)? {
            None => Ok(None),
            Some(value) => T::try_from(value)
                .map(Some)
                .map_err(|_| DecodeError::OutOfRange {
                    tag,
                    value,
                    width: std::any::type_name::<T>(),
                }),
        }
    }

    /// The value of an integer field whose head (of kind `kind`, tag `tag`) has been read.
    ///
    /// # Errors
    /// A non-integer kind, truncation.
    pub fn int_value(&mut self, tag: u8, kind: Kind) -> Result<i64, DecodeError> {
        Ok(match kind {
            Kind::ZeroTag => 0,
            Kind::Char => i64::from(i8::from_be_bytes(self.array()?)),
            Kind::Short => i64::from(i16::from_be_bytes(self.array()?)),
            Kind::Int32 => i64::from(i32::from_be_bytes(self.array()?)),
            Kind::Int64 => i64::from_be_bytes(self.array()?),
            found => return Err(self.mismatch(tag, "an integer", found)),
        })
    }

    /// A `float` field (`ZeroTag` reads as 0).
    ///
    /// # Errors
    /// A missing required field, another type, truncation.
    pub fn read_f32(&mut self, tag: u8, required: bool) -> Result<Option<f32>, DecodeError> {
        let Some(kind) = self.require(tag, required)? else {
            return Ok(None);
        };
        match kind {
            Kind::ZeroTag => Ok(Some(0.0)),
            Kind::Float => Ok(Some(f32::from_bits(u32::from_be_bytes(self.array()?)))),
            found => Err(self.mismatch(tag, "Float", found)),
        }
    }

    /// A `double` field (`ZeroTag` and `Float` are accepted, as upstream does).
    ///
    /// # Errors
    /// A missing required field, another type, truncation.
    pub fn read_f64(&mut self, tag: u8, required: bool) -> Result<Option<f64>, DecodeError> {
        let Some(kind) = self.require(tag, required)? else {
            return Ok(None);
        };
        match kind {
            Kind::ZeroTag => Ok(Some(0.0)),
            Kind::Float => Ok(Some(f64::from(f32::from_bits(u32::from_be_bytes(
                self.array()?,
            ))))),
            Kind::Double => Ok(Some(f64::from_bits(u64::from_be_bytes(self.array()?)))),
            found => Err(self.mismatch(tag, "Double", found)),
        }
    }

    /// A `string` field, as bytes (Tars strings need not be UTF-8).
    ///
    /// # Errors
    /// A missing required field, another type, truncation, a string over the limit.
    pub fn read_string(
        &mut self,
        tag: u8,
        required: bool,
    ) -> Result<Option<&'a [u8]>, DecodeError> {
        let Some(kind) = self.require(tag, required)? else {
            return Ok(None);
        };
        self.string_value(tag, kind).map(Some)
    }

    /// The value of a string field whose head (of kind `kind`, tag `tag`) has been read.
    ///
    /// # Errors
    /// A non-string kind, truncation, a string over the limit.
    pub fn string_value(&mut self, tag: u8, kind: Kind) -> Result<&'a [u8], DecodeError> {
        let offset = self.pos;
        let len = match kind {
            Kind::String1 => usize::from(self.array::<1>()?[0]),
            Kind::String4 => {
                usize::try_from(u32::from_be_bytes(self.array()?)).unwrap_or(usize::MAX)
            }
            found => return Err(self.mismatch(tag, "a string", found)),
        };
        if len > self.limits.max_string {
            return Err(DecodeError::StringTooLong {
                len,
                limit: self.limits.max_string,
                offset,
            });
        }
        self.take(len)
    }

    /// A `vector<byte>` field: a `SimpleList`, or a `List` of `Char` elements (upstream
    /// accepts both).
    ///
    /// # Errors
    /// A missing required field, another type, a bad size, truncation.
    pub fn read_bytes(&mut self, tag: u8, required: bool) -> Result<Option<Vec<u8>>, DecodeError> {
        let Some(kind) = self.require(tag, required)? else {
            return Ok(None);
        };
        match kind {
            Kind::SimpleList => self.simple_list_value().map(|b| Some(b.to_vec())),
            Kind::List => {
                let size = self.size(1)?;
                let mut out = Vec::with_capacity(size);
                for _ in 0..size {
                    let (kind, found) = self.read_head()?;
                    self.expect_tag(0, found)?;
                    let value = self.int_value(0, kind)?;
                    let byte = i8::try_from(value).map_err(|_| DecodeError::OutOfRange {
                        tag: 0,
                        value,
                        width: "i8",
                    })?;
                    out.push(byte.to_be_bytes()[0]);
                }
                Ok(Some(out))
            }
            found => Err(self.mismatch(tag, "SimpleList", found)),
        }
    }

    /// The bytes of a `SimpleList` whose head has been read.
    ///
    /// # Errors
    /// A wrong element type, a bad size, truncation.
    pub fn simple_list_value(&mut self) -> Result<&'a [u8], DecodeError> {
        let offset = self.pos;
        let (kind, _) = self.read_head()?;
        if kind != Kind::Char {
            return Err(DecodeError::Mismatch {
                tag: 0,
                expected: "Char (the element type of a SimpleList)",
                found: kind,
                offset,
            });
        }
        let size = self.size(1)?;
        self.take(size)
    }

    /// A `map<string, string>` field. Keys and values need not be UTF-8; they are converted
    /// lossily. A repeated key keeps its last value, as upstream's `std::map` insert keeps
    /// the first — both are the peer's mistake; the last is kept here.
    ///
    /// # Errors
    /// A missing required field, another type, a bad size, truncation.
    pub fn read_string_map(
        &mut self,
        tag: u8,
        required: bool,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, DecodeError> {
        let Some(kind) = self.require(tag, required)? else {
            return Ok(None);
        };
        if kind != Kind::Map {
            return Err(self.mismatch(tag, "Map", kind));
        }
        let size = self.size(2)?;
        let mut map = std::collections::BTreeMap::new();
        for _ in 0..size {
            let key = self.read_string(0, true)?.unwrap_or_default();
            let value = self.read_string(1, true)?.unwrap_or_default();
            map.insert(
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            );
        }
        Ok(Some(map))
    }

    /// Reads a container's size (an integer field with tag 0) and checks it against what
    /// remains: each element takes at least `min_bytes` bytes.
    ///
    /// # Errors
    /// A negative size or one the remaining input cannot hold.
    pub fn size(&mut self, min_bytes: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let (kind, tag) = self.read_head()?;
        self.expect_tag_at(0, tag, offset)?;
        let size = self.int_value(0, kind)?;
        usize::try_from(size)
            .ok()
            .filter(|&n| n.saturating_mul(min_bytes) <= self.remaining())
            .ok_or(DecodeError::BadSize { size, offset })
    }

    /// Skips the value of a field whose head has been read.
    ///
    /// # Errors
    /// Malformed or truncated values, nesting over the limit.
    pub fn skip_value(&mut self, kind: Kind) -> Result<(), DecodeError> {
        match kind {
            Kind::ZeroTag | Kind::StructEnd => Ok(()),
            Kind::Char => self.take(1).map(drop),
            Kind::Short => self.take(2).map(drop),
            Kind::Int32 | Kind::Float => self.take(4).map(drop),
            Kind::Int64 | Kind::Double => self.take(8).map(drop),
            Kind::String1 | Kind::String4 => self.string_value(0, kind).map(drop),
            Kind::SimpleList => self.simple_list_value().map(drop),
            Kind::List | Kind::Map | Kind::StructBegin => {
                self.enter()?;
                let result = self.skip_container(kind);
                self.depth -= 1;
                result
            }
        }
    }

    fn skip_container(&mut self, kind: Kind) -> Result<(), DecodeError> {
        match kind {
            Kind::List | Kind::Map => {
                let per = if kind == Kind::Map { 2 } else { 1 };
                let size = self.size(per)?;
                for _ in 0..size * per {
                    let (kind, _) = self.read_head()?;
                    self.skip_value(kind)?;
                }
                Ok(())
            }
            _ => self.skip_to_struct_end(),
        }
    }

    /// Skips fields up to and including the `StructEnd` of the current struct.
    ///
    /// # Errors
    /// Malformed fields, or the input ending first.
    pub fn skip_to_struct_end(&mut self) -> Result<(), DecodeError> {
        loop {
            let (kind, _) = self.read_head()?;
            if kind == Kind::StructEnd {
                return Ok(());
            }
            self.skip_value(kind)?;
        }
    }

    /// Counts one more level of nesting.
    ///
    /// # Errors
    /// [`DecodeError::TooDeep`] past [`Limits::max_depth`].
    pub fn enter(&mut self) -> Result<(), DecodeError> {
        if self.depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                limit: self.limits.max_depth,
                offset: self.pos,
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a level entered with [`Reader::enter`].
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn expect_tag(&self, expected: u8, found: u8) -> Result<(), DecodeError> {
        self.expect_tag_at(expected, found, self.pos)
    }

    fn expect_tag_at(&self, expected: u8, found: u8, offset: usize) -> Result<(), DecodeError> {
        if expected == found {
            Ok(())
        } else {
            Err(DecodeError::UnexpectedTag {
                expected,
                found,
                offset,
            })
        }
    }

    fn mismatch(&self, tag: u8, expected: &'static str, found: Kind) -> DecodeError {
        DecodeError::Mismatch {
            tag,
            expected,
            found,
            offset: self.pos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_pack_type_and_tag() {
        let mut w = Writer::new();
        w.head(Kind::Int32, 3);
        w.head(Kind::String1, 14);
        w.head(Kind::Map, 15);
        w.head(Kind::List, 200);
        assert_eq!(w.as_bytes(), [0x32, 0xE6, 0xF8, 15, 0xF9, 200]);
    }

    #[test]
    fn integers_take_the_narrowest_form() {
        let cases: [(i64, &[u8]); 7] = [
            (0, &[0x0C]),
            (1, &[0x00, 0x01]),
            (-128, &[0x00, 0x80]),
            (128, &[0x01, 0x00, 0x80]),
            (-32769, &[0x02, 0xFF, 0xFF, 0x7F, 0xFF]),
            (1 << 31, &[0x03, 0, 0, 0, 0, 0x80, 0, 0, 0]),
            (i64::MIN, &[0x03, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for (value, bytes) in cases {
            let mut w = Writer::new();
            w.write_int(0, value);
            assert_eq!(w.as_bytes(), bytes, "{value}");
            assert_eq!(Reader::new(bytes).read_int(0, true), Ok(Some(value)));
        }
    }

    #[test]
    fn strings_switch_to_four_byte_lengths_after_255() {
        let mut w = Writer::new();
        w.write_string(1, &[b'a'; 255]).unwrap();
        assert_eq!(&w.as_bytes()[..2], [0x16, 255]);
        let mut w = Writer::new();
        w.write_string(1, &[b'a'; 256]).unwrap();
        assert_eq!(&w.as_bytes()[..5], [0x17, 0, 0, 1, 0]);
        assert_eq!(
            Reader::new(w.as_bytes()).read_string(1, true).unwrap(),
            Some(&[b'a'; 256][..])
        );
    }

    #[test]
    fn byte_vectors_are_simple_lists() {
        let mut w = Writer::new();
        w.write_bytes(7, b"xyz").unwrap();
        assert_eq!(w.as_bytes(), [0x7D, 0x00, 0x00, 3, b'x', b'y', b'z']);
        assert_eq!(
            Reader::new(w.as_bytes()).read_bytes(7, true),
            Ok(Some(b"xyz".to_vec()))
        );
    }

    #[test]
    fn fields_are_found_by_tag_and_skipped_over() {
        let mut w = Writer::new();
        w.write_int(1, 5);
        w.begin_struct(2);
        w.write_string(0, b"inner").unwrap();
        w.end_struct();
        w.write_string_map(3, [("k", "v")].into_iter()).unwrap();
        w.write_f64(4, 1.5);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_f64(4, true), Ok(Some(1.5)));
        assert!(r.at_end());
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_int(0, false), Ok(None));
        assert_eq!(r.read_int(1, true), Ok(Some(5)));
        assert_eq!(
            r.read_string_map(3, true)
                .unwrap()
                .unwrap()
                .get("k")
                .map(String::as_str),
            Some("v")
        );
        assert_eq!(r.read_int(9, true), Err(DecodeError::Missing { tag: 9 }));
    }

    #[test]
    fn sizes_larger_than_the_input_are_refused_before_allocating() {
        // A list claiming 2^31-1 elements in a 7-byte input.
        let bytes = [0x09, 0x02, 0x7F, 0xFF, 0xFF, 0xFF, 0x0C];
        assert!(matches!(
            Reader::new(&bytes).read_bytes(0, true),
            Err(DecodeError::BadSize { .. })
        ));
        // A String4 claiming 4 GiB.
        let bytes = [0x07, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(
            Reader::with_limits(
                &bytes,
                Limits {
                    max_string: 1 << 20,
                    max_depth: 8
                }
            )
            .read_string(0, true),
            Err(DecodeError::StringTooLong { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let bytes = vec![0x0A; 10_000];
        let mut r = Reader::new(&bytes);
        let (kind, _) = r.read_head().unwrap();
        assert!(matches!(
            r.skip_value(kind),
            Err(DecodeError::TooDeep { limit: 64, .. })
        ));
    }

    #[test]
    fn a_wider_form_than_asked_is_a_mismatch_or_out_of_range() {
        let mut w = Writer::new();
        w.write_int(0, 70_000);
        assert!(matches!(
            Reader::new(w.as_bytes()).read_int_as::<i16>(0, true),
            Err(DecodeError::OutOfRange { .. })
        ));
        let mut w = Writer::new();
        w.write_string(0, b"x").unwrap();
        assert!(matches!(
            Reader::new(w.as_bytes()).read_int(0, true),
            Err(DecodeError::Mismatch { .. })
        ));
    }
}
