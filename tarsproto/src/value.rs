//! A schema-less view of TARS data: every field of a struct as a [`Value`], read without
//! knowing its declaration. Used to show what a peer sent, by the property tests, and by the
//! decoder's fuzz target (any bytes either decode into values or give a [`DecodeError`]).

use crate::codec::{DecodeError, EncodeError, Kind, Limits, Reader, Writer};

/// One decoded value. Integers of every width are one variant: the encoding does not say
/// which width was declared, only which was needed.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Float(f32),
    Double(f64),
    /// `String1` or `String4`; Tars strings are bytes.
    String(Vec<u8>),
    /// A `SimpleList` (`vector<byte>`).
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// A struct's fields in the order read, with their tags.
    Struct(Vec<(u8, Value)>),
}

impl PartialEq for Value {
    /// Floats compare by their bits, so a NaN equals itself and a round trip can be checked
    /// exactly.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a == b,
            (Self::Float(a), Self::Float(b)) => a.to_bits() == b.to_bits(),
            (Self::Double(a), Self::Double(b)) => a.to_bits() == b.to_bits(),
            (Self::String(a), Self::String(b)) | (Self::Bytes(a), Self::Bytes(b)) => a == b,
            (Self::List(a), Self::List(b)) => a == b,
            (Self::Map(a), Self::Map(b)) => a == b,
            (Self::Struct(a), Self::Struct(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// Writes the value as field `tag`.
    ///
    /// # Errors
    /// A string, byte list or container too large for its length field.
    pub fn encode(&self, w: &mut Writer, tag: u8) -> Result<(), EncodeError> {
        match self {
            Self::Int(v) => w.write_int(tag, *v),
            Self::Float(v) => w.write_f32(tag, *v),
            Self::Double(v) => w.write_f64(tag, *v),
            Self::String(v) => w.write_string(tag, v)?,
            Self::Bytes(v) => w.write_bytes(tag, v)?,
            Self::List(items) => {
                w.begin_list(tag, items.len())?;
                for item in items {
                    item.encode(w, 0)?;
                }
            }
            Self::Map(entries) => {
                w.begin_map(tag, entries.len())?;
                for (key, value) in entries {
                    key.encode(w, 0)?;
                    value.encode(w, 1)?;
                }
            }
            Self::Struct(fields) => {
                w.begin_struct(tag);
                encode_fields(w, fields)?;
                w.end_struct();
            }
        }
        Ok(())
    }
}

/// Writes fields one after the other (a struct's body, or a call's argument buffer).
///
/// # Errors
/// See [`Value::encode`].
pub fn encode_fields(w: &mut Writer, fields: &[(u8, Value)]) -> Result<(), EncodeError> {
    for (tag, value) in fields {
        value.encode(w, *tag)?;
    }
    Ok(())
}

/// Decodes a sequence of fields up to the end of `bytes` (a packet body or an argument
/// buffer, which have no `StructBegin`/`StructEnd` around them).
///
/// # Errors
/// Any malformed field; a stray `StructEnd`.
pub fn decode_fields(bytes: &[u8], limits: Limits) -> Result<Vec<(u8, Value)>, DecodeError> {
    let mut r = Reader::with_limits(bytes, limits);
    let mut fields = Vec::new();
    while !r.at_end() {
        let offset = r.position();
        let (kind, tag) = r.read_head()?;
        if kind == Kind::StructEnd {
            return Err(DecodeError::Mismatch {
                tag,
                expected: "a field",
                found: kind,
                offset,
            });
        }
        fields.push((tag, read_value(&mut r, kind)?));
    }
    Ok(fields)
}

/// Reads the value of a field whose head (of kind `kind`) has been read.
///
/// # Errors
/// Malformed or truncated values, nesting over the reader's limit.
pub fn read_value(r: &mut Reader<'_>, kind: Kind) -> Result<Value, DecodeError> {
    Ok(match kind {
        Kind::ZeroTag | Kind::Char | Kind::Short | Kind::Int32 | Kind::Int64 => {
            Value::Int(r.int_value(0, kind)?)
        }
        Kind::Float => Value::Float(f32::from_bits(u32::from_be_bytes(r.array()?))),
        Kind::Double => Value::Double(f64::from_bits(u64::from_be_bytes(r.array()?))),
        Kind::String1 | Kind::String4 => Value::String(r.string_value(0, kind)?.to_vec()),
        Kind::SimpleList => Value::Bytes(r.simple_list_value()?.to_vec()),
        Kind::List | Kind::Map | Kind::StructBegin => {
            r.enter()?;
            let result = read_container(r, kind);
            r.leave();
            result?
        }
        Kind::StructEnd => {
            return Err(DecodeError::Mismatch {
                tag: 0,
                expected: "a value",
                found: kind,
                offset: r.position(),
            });
        }
    })
}

fn read_container(r: &mut Reader<'_>, kind: Kind) -> Result<Value, DecodeError> {
    match kind {
        Kind::List => {
            let size = r.size(1)?;
            let mut items = Vec::with_capacity(size);
            for _ in 0..size {
                let (kind, _) = r.read_head()?;
                items.push(read_value(r, kind)?);
            }
            Ok(Value::List(items))
        }
        Kind::Map => {
            let size = r.size(2)?;
            let mut entries = Vec::with_capacity(size);
            for _ in 0..size {
                let (kind, _) = r.read_head()?;
                let key = read_value(r, kind)?;
                let (kind, _) = r.read_head()?;
                entries.push((key, read_value(r, kind)?));
            }
            Ok(Value::Map(entries))
        }
        _ => {
            let mut fields = Vec::new();
            loop {
                let (kind, tag) = r.read_head()?;
                if kind == Kind::StructEnd {
                    return Ok(Value::Struct(fields));
                }
                fields.push((tag, read_value(r, kind)?));
            }
        }
    }
}
