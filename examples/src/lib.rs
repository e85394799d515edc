//! Shared helpers for the netrt example programs (command-line topology flags).
