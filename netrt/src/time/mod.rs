//! Timers: sleeping, timeouts and intervals on the current core's wheel.
#![allow(dead_code)]

pub(crate) mod wheel;
