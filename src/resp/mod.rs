//! RESP, the Redis wire protocol: decoding client requests and encoding replies.
//!
//! This module is pure byte ↔ value code with no sockets, so it can be fuzzed and
//! property-tested in isolation. Requests are decoded in two phases (find a whole
//! frame, then slice it into zero-copy `Bytes` arguments); replies are one [`Reply`]
//! value that encodes itself as RESP2 or RESP3 depending on what the client asked for
//! with `HELLO`.

mod decode;
mod encode;
mod parse;
mod reply;

pub use decode::{parse_request, split_args, Decoder, Limits, ProtocolError};
pub use encode::{encode, fmt_double};
pub use parse::parse_reply;
pub use reply::Reply;
