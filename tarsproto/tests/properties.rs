//! Property tests of the encoding: every value round-trips through the encoder and decoder,
//! packets round-trip through their framing, and no input — truncated, garbled or arbitrary —
//! makes a decoder panic or read past its input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tarsproto::packet::{FrameDecoder, RequestPacket, ResponsePacket};
use tarsproto::value::{decode_fields, encode_fields};
use tarsproto::{Limits, Reader, Value, Writer};

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        any::<i8>().prop_map(i64::from),
        any::<i16>().prop_map(i64::from),
        any::<i32>().prop_map(i64::from),
        any::<i64>(),
        prop::sample::select(vec![
            i64::from(i8::MIN),
            i64::from(i8::MAX),
            i64::from(i8::MAX) + 1,
            i64::from(i16::MIN),
            i64::from(i16::MAX) + 1,
            i64::from(i32::MIN) - 1,
            i64::from(i32::MAX) + 1,
            i64::MIN,
            i64::MAX,
        ]),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..16),
        // Past 255 bytes a string switches to String4.
        prop::collection::vec(any::<u8>(), 250..max),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        int().prop_map(Value::Int),
        any::<u32>().prop_map(|b| Value::Float(f32::from_bits(b))),
        any::<u64>().prop_map(|b| Value::Double(f64::from_bits(b))),
        bytes(300).prop_map(Value::String),
        bytes(300).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Value::Map),
            fields(inner).prop_map(Value::Struct),
        ]
    })
}

/// Fields with ascending unique tags, some of them long (≥ 15, two-byte heads).
fn fields(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<(u8, Value)>> {
    prop::collection::btree_map(any::<u8>(), inner, 0..6)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
}

fn string_map() -> impl Strategy<Value = std::collections::BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z.]{0,8}", ".{0,20}", 0..4)
}

fn request() -> impl Strategy<Value = RequestPacket> {
    (
        any::<(i16, i8, i32, i32, i32)>(),
        (".{0,40}", ".{0,20}"),
        bytes(600),
        (string_map(), string_map()),
    )
        .prop_map(
            |(
                (version, packet_type, message_type, request_id, timeout),
                (servant, func),
                buffer,
                (context, status),
            )| {
                RequestPacket {
                    version,
                    packet_type,
                    message_type,
                    request_id,
                    servant_name: servant,
                    func_name: func,
                    buffer,
                    timeout,
                    context,
                    status,
                }
            },
        )
}

fn response() -> impl Strategy<Value = ResponsePacket> {
    (
        any::<(i16, i8, i32, i32, i32)>(),
        bytes(600),
        (string_map(), ".{0,30}", string_map()),
    )
        .prop_map(
            |(
                (version, packet_type, request_id, message_type, ret),
                buffer,
                (status, result_desc, context),
            )| {
                ResponsePacket {
                    version,
                    packet_type,
                    request_id,
                    message_type,
                    ret,
                    buffer,
                    status,
                    result_desc,
                    context,
                }
            },
        )
}

fn encoded(fields: &[(u8, Value)]) -> Vec<u8> {
    let mut w = Writer::new();
    encode_fields(&mut w, fields).unwrap();
    w.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(fields in fields(value())) {
        let bytes = encoded(&fields);
        prop_assert_eq!(decode_fields(&bytes, Limits::default()).unwrap(), fields);
    }

    #[test]
    fn integers_read_back_at_every_width(v in int(), tag in any::<u8>()) {
        let mut w = Writer::new();
        w.write_int(tag, v);
        let bytes = w.into_bytes();
        prop_assert_eq!(Reader::new(&bytes).read_int(tag, true).unwrap(), Some(v));
        let narrow = Reader::new(&bytes).read_int_as::<i32>(tag, true);
        prop_assert_eq!(narrow.is_ok(), i32::try_from(v).is_ok());
    }

    #[test]
    fn truncated_input_is_an_error_or_a_prefix(fields in fields(value()), cut in any::<prop::sample::Index>()) {
        let bytes = encoded(&fields);
        prop_assume!(!bytes.is_empty());
        let cut = cut.index(bytes.len());
        // A cut at a field boundary decodes to the fields before it; anywhere else it fails.
        if let Ok(prefix) = decode_fields(&bytes[..cut], Limits::default()) {
            prop_assert!(prefix.len() < fields.len() || fields.is_empty());
            prop_assert_eq!(&fields[..prefix.len()], &prefix[..]);
        }
    }

    #[test]
    fn garbled_input_never_panics(fields in fields(value()), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = encoded(&fields);
        prop_assume!(!bytes.is_empty());
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= byte | 1;
        }
        let _ = decode_fields(&bytes, Limits::default());
        let _ = RequestPacket::decode(&bytes, Limits::default());
        let _ = ResponsePacket::decode(&bytes, Limits::default());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let small = Limits { max_string: 64, max_depth: 4 };
        let _ = decode_fields(&bytes, Limits::default());
        let _ = decode_fields(&bytes, small);
        let _ = RequestPacket::decode(&bytes, small);
        let _ = ResponsePacket::decode(&bytes, small);
        let mut frames = FrameDecoder::new(256);
        frames.push(&bytes);
        while let Ok(Some(body)) = frames.next_frame() {
            prop_assert!(body.len() <= 252);
        }
    }

    #[test]
    fn requests_round_trip_through_frames(packet in request(), split in any::<prop::sample::Index>()) {
        let frame = packet.to_frame().unwrap();
        let mut frames = FrameDecoder::new(1 << 20);
        let at = split.index(frame.len());
        frames.push(&frame[..at]);
        let early = frames.next_frame().unwrap();
        prop_assert!(early.is_none() || at == frame.len());
        frames.push(&frame[at..]);
        let body = early.or_else(|| frames.next_frame().unwrap()).unwrap();
        prop_assert_eq!(RequestPacket::decode(&body, Limits::default()).unwrap(), packet);
    }

    #[test]
    fn responses_round_trip(packet in response()) {
        let body = packet.encode().unwrap();
        prop_assert_eq!(ResponsePacket::decode(&body, Limits::default()).unwrap(), packet);
    }
}
