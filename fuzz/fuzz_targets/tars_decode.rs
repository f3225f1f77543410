//! Fuzz target `tars_decode`: the Tars protocol decoder (`tarsproto`) on any bytes — as a
//! frame stream, as request and response packets, as a schema-less field sequence and as an
//! AdminF call — never panics, never returns a frame over its limit, and whatever decodes as
//! values re-encodes to bytes that decode to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tarsproto::admin::AdminRequest;
use tarsproto::packet::{FrameDecoder, RequestPacket, ResponsePacket};
use tarsproto::value::{decode_fields, encode_fields};
use tarsproto::{Limits, Writer};

const LIMITS: Limits = Limits {
    max_string: 1 << 16,
    max_depth: 16,
};

fuzz_target!(|data: &[u8]| {
    let mut frames = FrameDecoder::new(4096);
    for chunk in data.chunks(7) {
        frames.push(chunk);
        loop {
            match frames.next_frame() {
                Ok(Some(body)) => {
                    assert!(body.len() <= 4092);
                    if let Ok(request) = RequestPacket::decode(&body, LIMITS) {
                        let _ = AdminRequest::from_packet(&request, LIMITS);
                        let again = RequestPacket::decode(&request.encode().unwrap(), LIMITS);
                        assert_eq!(again.as_ref(), Ok(&request));
                    }
                    let _ = ResponsePacket::decode(&body, LIMITS);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = RequestPacket::decode(data, LIMITS);
    let _ = ResponsePacket::decode(data, LIMITS);
    if let Ok(fields) = decode_fields(data, LIMITS) {
        let mut w = Writer::new();
        encode_fields(&mut w, &fields).unwrap();
        assert_eq!(decode_fields(w.as_bytes(), LIMITS).unwrap(), fields);
    }
});
