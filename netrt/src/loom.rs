//! The std/loom facade, shared with netrt-igb (one switch for both crates).

pub(crate) use netrt_igb::loom::*;
