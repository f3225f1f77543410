//! Fuzz target `join`: two texts (split as `split_join_input` says); `Config::join` never
//! panics and equals upstream's definition: parse the concatenated `to_text`s in the right
//! order (`update`: this then other; otherwise other then this).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parser::{Config, JoinError};
use tarsdock_fuzz::{dump, split_join_input};

fuzz_target!(|data: &[u8]| {
    let Some((update, a, b)) = split_join_input(data) else {
        return;
    };
    let (Ok(mut this), Ok(other)) = (
        Config::parse_upstream(a.to_vec()),
        Config::parse_upstream(b.to_vec()),
    ) else {
        return;
    };
    let this_text = this.to_text();
    let other_text = other.to_text();
    let res = this.join(&other, update);
    match (this_text, other_text) {
        (Err(e), _) | (Ok(_), Err(e)) => assert_eq!(res, Err(JoinError::Tostr(e))),
        (Ok(x), Ok(y)) => {
            let concat = if update {
                [x, y].concat()
            } else {
                [y, x].concat()
            };
            match Config::parse_upstream(concat) {
                Ok(expected) => {
                    assert_eq!(res, Ok(()));
                    assert_eq!(this.to_text(), expected.to_text());
                    assert_eq!(dump(&this), dump(&expected));
                }
                Err(e) => assert_eq!(res, Err(JoinError::Parse(e))),
            }
        }
    }
});
