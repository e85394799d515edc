//! The examples' connection log (`-v`).

use std::fmt;

/// Prints one line per connection when verbose, nothing otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Log {
    verbose: bool,
}

impl Log {
    /// A log that prints only if `verbose`.
    pub fn new(verbose: bool) -> Log {
        Log { verbose }
    }

    /// Whether lines are printed.
    pub fn enabled(&self) -> bool {
        self.verbose
    }

    /// Prints one line (to stdout) if verbose.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        if self.verbose {
            println!("{args}");
        }
    }
}
