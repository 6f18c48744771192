//! `Msg::decode` on arbitrary bytes must never panic, and a record it
//! accepts must be exactly the encoding of the decoded message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sprout_protocol::Msg;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Msg::decode(data) {
        assert_eq!(&msg.encode()[..], data, "{msg:?}");
    }
});
